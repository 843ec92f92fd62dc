#include "attnscope/LogitLens.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/topk.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <map>

#include "attnscope/AttentionCapture.h"
#include "attnscope/Attention.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Tokenizer.h"

namespace attnscope {

namespace {
/// Keeps the residual stream each layer of one stack leaves (on the model's device, in its dtype); no attention.
struct ResidualRecorder : AttentionHook {
  explicit ResidualRecorder(std::string stack) : stack(std::move(stack)) {}
  std::string stack;
  std::map<int, at::Tensor> layers;  ///< [T, H] by layer
  bool wantsProbabilities(const AttentionSite&) const override { return false; }
  void onProbabilities(const AttentionSite&, at::Tensor&, int64_t) override {}
  void onLayerOutput(const AttentionSite& site, const at::Tensor& hidden) override {
    if (site.stack == stack) layers[site.layer] = hidden.detach();
  }
};

std::string tokenLabel(const LoadedModel& m, int64_t id) {
  return m.tokenizer ? m.tokenizer->displayLabel(id) : std::to_string(id);
}
}  // namespace

std::vector<at::Tensor> lensLogits(LoadedModel& m, const PreparedInput& input, at::Tensor* modelLogits) {
  const std::string stack = m.model->lensStack();
  if (stack.empty())
    throw InputError("the logit lens needs a token output head; this " + m.model->info().modelType + " model (" +
                     m.model->info().head + " head) has none");
  ResidualRecorder recorder(stack);
  c10::InferenceMode guard;
  ForwardOptions options;
  options.hook = &recorder;
  const TensorMap out = m.model->forward(input.tensors, options);
  if (modelLogits) *modelLogits = out.at("logits").to(at::kCPU, at::kFloat);  // [T, V]
  if (recorder.layers.empty()) throw InputError("the model reported no layer outputs for the logit lens");
  std::vector<at::Tensor> layers;
  for (const auto& [layer, hidden] : recorder.layers)
    layers.push_back(m.model->outputHead(hidden).to(at::kCPU, at::kFloat));  // [T, V]
  return layers;
}

int64_t lensTargetId(const LoadedModel& m, const std::string& target) {
  const int64_t vocab = m.model->info().vocab;
  if (!target.empty() && target[0] == '#') {
    int64_t id = 0;
    if (!parseNonNegativeInt(target.substr(1), &id) || id >= vocab)
      throw InputError("target '" + target + "': expected #ID with ID in 0.." + std::to_string(vocab - 1));
    return id;
  }
  if (!m.tokenizer) throw InputError("target '" + target + "': the model has no tokenizer; give the id as #ID");
  const Encoding e = m.tokenizer->tokenize(target);
  if (e.ids.size() != 1) {
    std::string pieces;
    for (const auto& p : e.pieces) pieces += (pieces.empty() ? "" : ", ") + ("'" + p + "'");
    throw InputError("target '" + target + "' is " + std::to_string(e.ids.size()) + " tokens (" + pieces +
                     "); give one token, or its id as #ID");
  }
  return e.ids[0];
}

int64_t classTargetId(const ModelInfo& info, int64_t classes, const std::string& target) {
  if (target.empty()) return -1;
  if (target[0] == '#') {
    int64_t id = 0;
    if (!parseNonNegativeInt(target.substr(1), &id) || id >= classes)
      throw InputError("target '" + target + "': expected #INDEX with INDEX in 0.." + std::to_string(classes - 1));
    return id;
  }
  const auto it = std::find(info.labels.begin(), info.labels.end(), target);
  if (it == info.labels.end())
    throw InputError("target '" + target + "' is not one of this classifier's " + std::to_string(classes) +
                     " labels; give a label name or #INDEX");
  return it - info.labels.begin();
}

nlohmann::json logitLens(LoadedModel& m, const PreparedInput& input, const std::string& target, int topK) {
  if (topK < 1) throw InputError("the logit lens needs at least one top token per cell");
  const int64_t fixed = target.empty() ? -1 : lensTargetId(m, target);
  at::Tensor finalLogits;
  const std::vector<at::Tensor> layers = lensLogits(m, input, &finalLogits);
  const at::Tensor predicted = finalLogits.argmax(-1).contiguous();  // [T]
  const int64_t T = finalLogits.size(0);
  // The positions of the stack the lens reads: the decoder's tokens for encoder–decoder models.
  const std::vector<std::string> labels = stackLabels(input, m.model->lensStack()).first;
  nlohmann::json doc = {{"model", m.model->info().modelType}, {"stack", m.model->lensStack()},
                        {"positions", labels}};
  doc["target"] = fixed < 0 ? nlohmann::json(nullptr) : nlohmann::json{{"id", fixed}, {"token", tokenLabel(m, fixed)}};
  nlohmann::json out = nlohmann::json::array();
  for (size_t l = 0; l < layers.size(); ++l) {
    const at::Tensor logits = layers[l].to(at::kDouble);  // [T, V]
    const at::Tensor probs = at::softmax(logits, -1);     // [T, V]
    const auto top = at::topk(probs, std::min<int64_t>(topK, probs.size(1)));
    const at::Tensor values = std::get<0>(top).contiguous(), ids = std::get<1>(top).contiguous();  // [T, k]
    nlohmann::json positions = nlohmann::json::array();
    for (int64_t t = 0; t < T; ++t) {
      nlohmann::json cell;
      cell["position"] = t;
      cell["token"] = t < static_cast<int64_t>(labels.size()) ? labels[static_cast<size_t>(t)] : std::to_string(t);
      nlohmann::json list = nlohmann::json::array();
      for (int64_t i = 0; i < values.size(1); ++i) {
        const int64_t id = ids[t][i].item<int64_t>();
        list.push_back({{"token", tokenLabel(m, id)}, {"id", id}, {"p", values[t][i].item<double>()}});
      }
      cell["top"] = list;
      const int64_t target = fixed >= 0 ? fixed : predicted[t].item<int64_t>();
      cell["target_id"] = target;
      cell["target_p"] = probs[t][target].item<double>();
      cell["target_rank"] = (logits[t] > logits[t][target]).sum().item<int64_t>();
      positions.push_back(cell);
    }
    out.push_back({{"layer", static_cast<int>(l)}, {"positions", positions}});
  }
  doc["layers"] = out;
  return doc;
}

}  // namespace attnscope
