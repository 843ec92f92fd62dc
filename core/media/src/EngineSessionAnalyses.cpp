// EngineSession's analyses of the last input: overlays on the picture or spectrogram, token attributions, the logit
// lens, direct logit attribution, the information-flow graph, deletion curves and head importance.
#include "attnscope/EngineSession.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/xlogy.h>
#include <ATen/ops/zeros.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <unistd.h>

#include "attnscope/Analysis.h"
#include "attnscope/AudioFeatures.h"
#include "attnscope/CaptureFile.h"
#include "attnscope/Compare.h"
#include "attnscope/DeletionCurve.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/LogitLens.h"
#include "attnscope/Media.h"
#include "attnscope/MemoryBudget.h"
#include "attnscope/OverlayRenderer.h"
#include "attnscope/PruneSweep.h"
#include "attnscope/SafetensorsFile.h"
#include "attnscope/Tokenizer.h"
#include "attnscope/Variant.h"
#include "EngineSessionImpl.h"
#include "OnDemandSource.h"

namespace attnscope {

namespace {
EngineSession::Picture pictureOf(OverlayPicture p) {
  EngineSession::Picture out;
  out.width = p.width;
  out.height = p.height;
  out.rgb = std::move(p.rgb);
  out.title = std::move(p.title);
  return out;
}
}  // namespace

void EngineSession::writeOverlayCapture() const {
  if (!m->lastRun) throw InputError("nothing to draw: run the model first");
  if (!m->overlayCapture.empty()) return;
  // The overlay renderer reads the run contract's capture file; write the last run once, privately.
  const auto path = std::filesystem::temp_directory_path() /
                    ("attnscope-overlay-" + std::to_string(::getpid()) + "-" +
                     std::to_string(reinterpret_cast<uintptr_t>(this)) + ".safetensors");
  saveCapture(path.string(), *m->model, *m->lastInput, *m->lastRun);
  m->overlayCapture = path.string();
}

TokenAttribution EngineSession::tokenAttribution(const std::string& method, int64_t position,
                                                 const std::string& target) {
  if (!m->lastInput) throw InputError("the attribution needs an input: run the model first");
  return attnscope::tokenAttribution(*m->model, *m->lastInput, method,
                                     position < 0 ? std::nullopt : std::optional<int64_t>(position), target);
}

EngineSession::Picture EngineSession::attributionOverlay(const TokenAttribution& a, double alpha,
                                                         const std::string& colormap) const {
  writeOverlayCapture();
  const std::string sequence = a.positionStack == a.stack ? "" : a.positionStack + " ";
  std::string title = a.method + " of " + sequence + "position " + std::to_string(a.position) + " '" +
                      a.positionToken + "'";
  if (a.hasTarget) title += " for " + a.target;
  return pictureOf(renderScoresOverlay(m->overlayCapture, a.scores, title, alpha, colormap));
}

EngineSession::Picture EngineSession::overlay(const std::string& stack, int layer, int head, int query, bool rollout,
                                              double alpha, const std::string& colormap) const {
  writeOverlayCapture();
  OverlayRequest r;
  r.stack = stack;
  r.layer = layer;
  r.head = head;
  r.query = query;
  r.rollout = rollout;
  r.alpha = alpha;
  r.colormap = colormap;
  return pictureOf(renderCaptureOverlay(m->overlayCapture, r));
}

LensResult EngineSession::logitLens(const std::string& target, int topK) {
  if (!m->lastInput) throw InputError("the logit lens needs an input: run the model first");
  const nlohmann::json doc = attnscope::logitLens(*m->model, *m->lastInput, target, topK);
  LensResult r;
  r.positions = doc.at("positions").get<std::vector<std::string>>();
  r.target = doc.at("target").is_null() ? "" : doc["target"].at("token").get<std::string>();
  for (const auto& layer : doc.at("layers")) {
    ++r.layers;
    for (const auto& c : layer.at("positions")) {
      LensResult::Cell cell;
      for (const auto& t : c.at("top")) {
        cell.tokens.push_back(t.at("token").get<std::string>());
        cell.ids.push_back(t.at("id").get<int64_t>());
        cell.p.push_back(t.at("p").get<float>());
      }
      const int64_t id = c.at("target_id").get<int64_t>();
      cell.targetToken = m->model->tokenizer ? m->model->tokenizer->displayLabel(id) : std::to_string(id);
      cell.targetP = c.at("target_p").get<float>();
      cell.targetRank = c.at("target_rank").get<int>();
      r.cells.push_back(std::move(cell));
    }
  }
  return r;
}

DirectLogitAttribution EngineSession::directLogitAttribution(int64_t position, const std::string& target) {
  if (!m->lastInput) throw InputError("direct logit attribution needs an input: run the model first");
  return attnscope::directLogitAttribution(*m->model, *m->lastInput, position, target);
}

InformationFlowGraph EngineSession::informationFlowGraph(int64_t position, double threshold) {
  if (!m->lastInput) throw InputError("the information-flow graph needs an input: run the model first");
  return attnscope::informationFlowGraph(*m->model, *m->lastInput, position, threshold);
}

DeletionResult EngineSession::deletionCurves(const std::vector<std::string>& methods, const std::string& target,
                                            int steps) {
  if (!m->lastInput) throw InputError("deletion curves need an input: run the model first");
  return attnscope::deletionCurves(*m->model, *m->lastInput, methods, target, steps, 0);
}

std::vector<float> EngineSession::importance(int* layers, int* heads) const {
  if (!m->lastInput) throw InputError("importance needs an input: run the model first");
  const ModelInfo& info = m->model->model->info();
  *layers = info.layers;
  *heads = info.heads;
  std::vector<float> out(static_cast<size_t>(info.layers) * info.heads, 0.0f);
  auto v = makeVariant("prune:ratio=0,by=importance");
  v->prepare(*m->model, *m->lastInput);
  const auto scores = v->details()["ranking"]["scores"];
  for (int l = 0; l < info.layers; ++l)
    for (int h = 0; h < info.heads; ++h) out[static_cast<size_t>(l) * info.heads + h] = scores[l][h].get<float>();
  return out;
}

}  // namespace attnscope
