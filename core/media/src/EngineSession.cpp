#include "attnscope/EngineSession.h"

#include <torch/version.h>

#include <chrono>
#include <optional>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "attnscope/Analysis.h"
#include "attnscope/AudioFeatures.h"
#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/xlogy.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/stack.h>
#include "attnscope/CaptureFile.h"
#include "attnscope/Compare.h"
#include "attnscope/DeletionCurve.h"
#include "attnscope/MemoryBudget.h"
#include "attnscope/PruneSweep.h"
#include "attnscope/SafetensorsFile.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/LogitLens.h"
#include "attnscope/Media.h"
#include "attnscope/OverlayRenderer.h"
#include "attnscope/Tokenizer.h"
#include "attnscope/Variant.h"
#include "OnDemandSource.h"

namespace attnscope {

std::string libtorchVersion() { return TORCH_VERSION; }


struct EngineSession::Impl {
  std::shared_ptr<LoadedModel> model;
  ModelSummary summary;
  std::optional<PreparedInput> lastInput;
  std::optional<RunResult> lastRun;
  std::optional<GenerateResult> lastGeneration;  ///< set when the last action was generate()
  std::string overlayCapture;  ///< temp capture file of the last run, for overlays
  /// Forgets the last run's private capture file (it describes an older run now).
  void dropOverlayFile() {
    std::error_code ec;
    if (!overlayCapture.empty()) std::filesystem::remove(overlayCapture, ec);
    overlayCapture.clear();
  }
  ~Impl() { dropOverlayFile(); }
};

EngineSession::EngineSession() : m(new Impl) {}
EngineSession::~EngineSession() = default;

std::vector<std::string> supportedModelTypes() { return ModelRegistry::instance().modelTypes(); }

std::unique_ptr<EngineSession> EngineSession::open(const std::string& dir, const std::string& device,
                                                   const std::string& dtype) {
  std::unique_ptr<EngineSession> s(new EngineSession());
  s->m->model = loadModel(dir, device, dtype);
  const ModelInfo& i = s->m->model->model->info();
  ModelSummary& o = s->m->summary;
  o.dir = s->m->model->dir;  // the folder (a Hub id is resolved to its snapshot)
  o.family = i.modelType;
  o.architecture = i.architecture;
  o.modality = i.modality;
  o.dtype = i.dtype;
  o.computeDtype = i.computeDtype;
  o.device = i.device;
  o.head = i.head;
  o.tokenizer = s->m->model->tokenizer ? s->m->model->tokenizer->kind() : "none";
  o.layers = i.layers;
  o.heads = i.heads;
  o.kvHeads = i.kvHeads;
  o.hidden = i.hidden;
  o.vocab = i.vocab;
  o.maxPositions = i.maxPositions;
  o.parameters = i.parameters;
  o.causal = i.causal;
  o.encoderDecoder = i.encoderDecoder;
  o.windowSeconds = i.windowSeconds;
  o.canGenerate = (i.causal && i.modality == "text") || i.encoderDecoder;
  o.lensStack = s->m->model->model->lensStack();
  o.hasLens = !o.lensStack.empty();
  o.hasDirectAttribution = s->m->model->model->hasDirectAttribution();
  o.hasResidualDecomposition = s->m->model->model->residualForm() != ResidualForm::None;
  o.deletionMethods = deletionMethods(*s->m->model);
  o.labels = i.labels;
  o.note = s->m->model->config.optString("attnscope_note", "");
  if (!s->m->model->tokenizerError.empty())
    o.note += (o.note.empty() ? "" : "\n") + ("The tokenizer cannot be used: " + s->m->model->tokenizerError);
  return s;
}

const ModelSummary& EngineSession::summary() const { return m->summary; }

bool EngineSession::acceptsTextPair() const {
  const ModelInfo& info = m->model->model->info();
  if (info.encoderDecoder && info.modality == "text") return true;  // the second field is the target text
  const auto names = m->model->model->inputNames();
  return std::find(names.begin(), names.end(), "token_type_ids") != names.end();
}

CaptureResult EngineSession::runText(const std::string& text, const std::string& pair, bool hasPair,
                                     const std::function<void(int, int)>& progress,
                                     const std::function<bool()>& cancelled) {
  RunRequest r;
  r.text = text;
  r.pair = pair;
  r.hasPair = hasPair;
  return run(r, progress, cancelled);
}

namespace {
PreparedInput prepareRequest(const LoadedModel& model, const RunRequest& request) {
  if (!request.inputsPath.empty()) return prepareInputsFile(model, request.inputsPath);
  if (!request.imagePath.empty()) return prepareImage(model, request.imagePath);
  if (!request.audioPath.empty()) return prepareAudio(model, request.audioPath, request.offsetSeconds);
  const std::optional<std::string> second = request.hasPair ? std::optional<std::string>(request.pair) : std::nullopt;
  const ModelInfo& info = model.model->info();
  if (info.encoderDecoder && info.modality == "text") return prepareSeq2Seq(model, request.text, second);  // a target
  return prepareText(model, request.text, second);
}

/// The model's stacks with their query/key labels.
void addStacks(CaptureResult& out, const LoadedModel& model, const PreparedInput& input) {
  for (const auto& stack : model.model->info().stacks) {
    auto [q, k] = stackLabels(input, stack);
    out.stacks.push_back(stack);
    out.stackQueryLabels.push_back(q);
    out.stackKeyLabels.push_back(k);
  }
}

/// Every layer \p capture recorded: probabilities copied, queries/keys shared (tensors are reference counted and
/// never written after they are recorded) behind an OnDemandSource.
void addCapturedLayers(CaptureResult& out, const AttentionCapture& capture, int totalHeads) {
  for (const auto& [key, probs] : capture.records()) {
    AttentionMatrix a;
    a.stack = key.first;
    a.layer = key.second;
    a.headIndex = capture.heads(totalHeads);
    a.heads = static_cast<int>(probs.size(0));
    a.q = static_cast<int>(probs.size(1));
    a.k = static_cast<int>(probs.size(2));
    const at::Tensor c = probs.contiguous();  // [heads, q, k]
    a.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out.layers.push_back(std::move(a));
  }
  if (capture.queryKeys().empty()) return;
  for (const auto& [key, qk] : capture.queryKeys()) {
    AttentionMatrix a;
    a.stack = key.first;
    a.layer = key.second;
    a.headIndex = qk.heads;
    a.heads = static_cast<int>(qk.heads.size());
    a.q = static_cast<int>(qk.rows());
    a.k = static_cast<int>(qk.cols());
    a.onDemand = true;
    out.layers.push_back(std::move(a));
  }
  out.source = std::make_shared<OnDemandSource>(capture.queryKeys());
}

CaptureResult toCaptureResult(const LoadedModel& model, const PreparedInput& input, const RunResult& run, int totalHeads) {
  CaptureResult out;
  out.variant = run.variant;
  addStacks(out, model, input);
  // Additive score biases a family reports per stack (T5's relative position bias, "<stack>_position_bias"
  // [heads, q, k]) become stacks of their own, "<stack> position bias", so a head's bias is shown like its attention.
  std::vector<std::pair<std::string, at::Tensor>> biases;
  for (const auto& stack : model.model->info().stacks) {
    auto it = run.outputs.find(stack + "_position_bias");
    if (it == run.outputs.end() || it->second.dim() != 3) continue;
    auto [q, k] = stackLabels(input, stack);
    out.stacks.push_back(stack + " position bias");
    out.stackQueryLabels.push_back(q);
    out.stackKeyLabels.push_back(k);
    biases.emplace_back(stack + " position bias", it->second);
  }
  out.queryLabels = out.stackQueryLabels.front();
  out.keyLabels = out.stackKeyLabels.front();
  out.seconds = run.seconds;
  out.predictionJson = run.prediction.dump();
  const auto& p = run.prediction;
  if (p.value("task", "") == "classification") {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (p = %.3f)", p["probability"].get<double>());
    out.predictionText = "class: " + p["label"].get<std::string>() + buf;
  } else if (p.value("task", "") == "next-token" && !p["next_tokens"].empty()) {
    out.predictionText = "next token: '" + p["next_tokens"][0]["token"].get<std::string>() + "'";
  }
  addCapturedLayers(out, *run.capture, totalHeads);
  for (const auto& [name, bias] : biases) {
    AttentionMatrix a;
    a.stack = name;
    a.layer = 0;  // one bias per stack, shared by its layers
    a.heads = static_cast<int>(bias.size(0));
    for (int h = 0; h < a.heads; ++h) a.headIndex.push_back(h);
    a.q = static_cast<int>(bias.size(1));
    a.k = static_cast<int>(bias.size(2));
    const at::Tensor c = bias.to(at::kFloat).contiguous();  // [heads, q, k]
    a.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out.layers.push_back(std::move(a));
  }
  return out;
}
/// The request's input, and its attention variant (none for "" and "full") prepared on that input.
PreparedInput prepareWithVariant(LoadedModel& model, const RunRequest& request,
                                 std::unique_ptr<AttentionVariant>& variant) {
  if (!request.variant.empty() && request.variant != "full") variant = makeVariant(request.variant);
  PreparedInput input = prepareRequest(model, request);
  if (variant) variant->prepare(model, input);
  return input;
}
/// Forwards progress to the caller and turns its "cancelled?" answer into the engine's cancel flag; throws at once
/// when the caller has already cancelled.
void wireControl(RunControl& control, const std::function<void(int, int)>& progress,
                 const std::function<bool()>& cancelled) {
  if (cancelled && cancelled()) throw CancelledError();
  control.progress = [&control, progress, cancelled](int done, int total) {
    if (progress) progress(done, total);
    if (cancelled && cancelled()) control.cancel = true;
  };
}
}  // namespace

ComparisonResult EngineSession::compare(const RunRequest& request, const std::vector<std::string>& specs,
                                        const std::function<void(int, int)>& progress,
                                        const std::function<bool()>& cancelled) {
  RunControl control;
  wireControl(control, progress, cancelled);
  PreparedInput input = prepareRequest(*m->model, request);
  Comparison c = compareVariants(*m->model, input, specs, CompareOptions{1}, &control);
  ComparisonResult out;
  const ModelInfo& info = m->model->model->info();
  out.layers = info.layers;
  out.heads = info.heads;
  out.reportJson = c.report.dump();
  const std::string first = info.stacks.front();
  for (size_t i = 0; i < c.outcomes.size(); ++i) {
    VariantPanel p;
    const auto& v = c.report["variants"][i];
    p.spec = c.outcomes[i].spec;
    p.capture = toCaptureResult(*m->model, input, c.outcomes[i].run, info.heads);
    p.seconds = v["cost"]["seconds_median"].get<double>();
    p.timeRatio = v["cost"]["time_ratio"].get<double>();
    p.flopsRatio = v["cost"]["flops_ratio"].get<double>();
    p.memoryRatio = v["cost"]["attention_bytes_ratio"].get<double>();
    const auto& mm = v["model_metrics"];
    p.top1Agreement = mm.value("top1_agreement", 1.0);
    p.logitsKl = mm.contains("logits_kl") && mm["logits_kl"].is_number() ? mm["logits_kl"].get<double>() : 0.0;
    p.jsGrid.assign(static_cast<size_t>(info.layers) * info.heads, 0.0f);
    for (const auto& L : v["layers"]) {
      if (L["stack"] != first) continue;  // the grid shows the first stack
      const int l = L["layer"];
      for (const auto& H : L["heads"])
        p.jsGrid[static_cast<size_t>(l) * info.heads + H["head"].get<int>()] = static_cast<float>(H["js_mean"].get<double>());
    }
    p.meanJs = mm.value("js_mean", 0.0);  // the report's definition, as the CLI prints it
    p.predictionJson = v.value("prediction", nlohmann::json::object()).dump();
    const nlohmann::json& details = c.outcomes[i].details;
    if (details.is_object() && details.contains("pruned_heads"))
      for (const auto& h : details["pruned_heads"]) p.prunedHeads.push_back(h.get<std::string>());
    // Which predictions changed: argmax per position, against full's.
    const auto fl = c.outcomes[0].run.outputs.find("logits"), vl = c.outcomes[i].run.outputs.find("logits");
    if (fl != c.outcomes[0].run.outputs.end() && vl != c.outcomes[i].run.outputs.end() && fl->second.dim() == 2 &&
        info.head == "lm" && !info.encoderDecoder) {
      const at::Tensor fa = fl->second.argmax(-1).to(at::kLong).contiguous();  // [T]
      const at::Tensor va = vl->second.argmax(-1).to(at::kLong).contiguous();  // [T]
      p.positions = static_cast<int>(fa.size(0));
      auto label = [&](int64_t id) {
        return m->model->tokenizer ? m->model->tokenizer->displayLabel(id) : std::to_string(id);
      };
      for (int64_t t = 0; t < fa.size(0) && t < va.size(0); ++t) {
        const int64_t a = fa[t].item<int64_t>(), b = va[t].item<int64_t>();
        if (a == b) continue;
        VariantPanel::ChangedPrediction ch;
        ch.position = static_cast<int>(t);
        ch.at = t < static_cast<int64_t>(input.labels.size()) ? input.labels[t] : std::to_string(t);
        ch.full = label(a);
        ch.variant = label(b);
        p.changed.push_back(std::move(ch));
      }
    }
    out.panels.push_back(std::move(p));
  }
  return out;
}

PruneSweepResult EngineSession::pruneSweep(const RunRequest& request, const PruneSweepOptions& options,
                                          const std::function<void(int, int)>& progress,
                                          const std::function<bool()>& cancelled) {
  RunControl control;
  wireControl(control, progress, cancelled);
  PreparedInput input = prepareRequest(*m->model, request);
  return attnscope::pruneSweep(*m->model, input, options, &control);
}

CaptureResult EngineSession::run(const RunRequest& request, const std::function<void(int, int)>& progress,
                                 const std::function<bool()>& cancelled,
                                 const std::function<void(std::shared_ptr<const CaptureResult>)>& partial) {
  RunControl control;
  wireControl(control, progress, cancelled);
  std::unique_ptr<AttentionVariant> variant;
  PreparedInput input = prepareWithVariant(*m->model, request, variant);
  using Clock = std::chrono::steady_clock;
  Clock::time_point lastPartial;
  bool sentPartial = false;
  if (partial)  // the first recorded layer at once, then the layers so far at most once a second
    control.layerCaptured = [&](const AttentionCapture& capture) {
      if (sentPartial && Clock::now() - lastPartial < std::chrono::seconds(1)) return;
      auto p = std::make_shared<CaptureResult>();
      p->variant = request.variant == "full" ? "" : request.variant;
      p->partial = true;
      addStacks(*p, *m->model, input);
      p->queryLabels = p->stackQueryLabels.front();
      p->keyLabels = p->stackKeyLabels.front();
      addCapturedLayers(*p, capture, m->summary.heads);
      p->predictionText = "computing: " + std::to_string(p->layers.size()) + " layers so far";
      partial(std::move(p));
      sentPartial = true;
      lastPartial = Clock::now();
    };
  if (request.store != "auto" && request.store != "probs" && request.store != "qk")
    throw InputError("store must be auto, probs or qk (got '" + request.store + "')");
  CaptureSelection selection;
  const bool plain = !variant || variant->isIdentity();
  if (request.store == "qk" && !plain)
    throw InputError("the variant '" + variant->spec() + "' cannot be kept as queries and keys; store probabilities");
  const bool lastLogits = allLogitsBytes(*m->model, input) > (int64_t(1) << 30);
  // The budget: what this machine can give now, plus the loaded weights the estimate counts again. "auto" is the
  // CLI's rule, counting the copy of the probabilities the document keeps beside the engine's.
  const MemoryEstimate probsEstimate = estimateRun(*m->model, input, selection, lastLogits, !plain);
  const int64_t budget = availableMemory() + probsEstimate.weights;
  if (request.store == "qk" ||
      (request.store == "auto" && autoStoreKind(probsEstimate, budget, plain, 1) == CaptureKind::QueryKey))
    selection.kind = CaptureKind::QueryKey;
  const MemoryEstimate estimate = estimateRun(*m->model, input, selection, lastLogits, !plain);
  checkFits(estimate, selection.kind, budget, "what this machine can give now");
  RunResult run = runModel(*m->model, input, selection, &control, variant.get(), lastLogits);
  CaptureResult out = toCaptureResult(*m->model, input, run, m->summary.heads);
  m->lastInput = std::move(input);
  m->lastRun = std::move(run);
  m->lastGeneration.reset();
  m->dropOverlayFile();
  return out;
}

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

CaptureResult loadCaptureFile(const std::string& path, std::string* name) {
  const auto capture = CaptureFile::open(path);  // either kind; its tensors checked against their metadata
  if (capture->kind() == CaptureKind::QueryKey) {
    const int64_t need = capture->probabilityBytes(), room = availableMemory() / 2;
    if (need > room)
      throw OutOfMemoryError("'" + path + "' stores queries and keys; the probabilities of all its heads would need " +
                             formatGigabytes(need) + " (more than half of the " + formatGigabytes(room * 2) +
                             " this machine can give now): draw one head or a block of it instead");
  }
  const nlohmann::json& meta = capture->metadata();
  CaptureResult out;
  std::vector<std::string> tokens, stacks = {"self"};
  std::vector<int> heads;
  nlohmann::json labels = nlohmann::json::object();
  try {  // the metadata's types are checked here: a wrong one is an InputError naming the key, never a crash
    if (!meta.is_object()) throw InputError("'" + path + "': the metadata is not a JSON object");
    out.variant = meta.value("variant", "");
    tokens = meta.value("tokens", std::vector<std::string>{});
    stacks = meta.value("stacks", stacks);
    if (meta.contains("heads"))
      for (const auto& h : meta["heads"]) {
        if (!h.is_number_integer() || h.get<int64_t>() < 0 || h.get<int64_t>() > (1 << 16))
          throw InputError("'" + path + "': metadata heads: expected head indices, got " + h.dump().substr(0, 40));
        heads.push_back(static_cast<int>(h.get<int64_t>()));
      }
    if (meta.contains("labels")) labels = meta["labels"];
    if (!labels.is_object()) throw InputError("'" + path + "': metadata labels: expected an object");
  } catch (const nlohmann::json::exception& e) {
    throw InputError("'" + path + "': unreadable metadata: " + e.what());
  }
  if (name) *name = out.variant.empty() ? "full" : out.variant;
  for (const auto& stack : stacks) {
    out.stacks.push_back(stack);
    std::vector<std::string> q = tokens, k = tokens;
    if (labels.contains(stack)) {
      try {
        q = labels[stack].value("query", tokens);
        k = labels[stack].value("key", tokens);
      } catch (const nlohmann::json::exception& e) {
        throw InputError("'" + path + "': metadata labels." + stack + ": " + e.what());
      }
    }
    for (int l : capture->layers(stack)) {
      const std::string tname = captureTensorName(stack, l);
      const at::Tensor t = guardAllocations([&] { return capture->probabilities(stack, l).contiguous(); },
                                            "reading '" + path + "'");  // [heads, q, k]
      AttentionMatrix a;
      a.stack = stack;
      a.layer = l;
      a.heads = static_cast<int>(t.size(0));
      a.q = static_cast<int>(t.size(1));
      a.k = static_cast<int>(t.size(2));
      // Labels name every row and column the views draw: a count that does not match is refused here.
      if (q.size() != static_cast<size_t>(a.q) || k.size() != static_cast<size_t>(a.k))
        throw InputError("'" + path + "': '" + tname + "' is [" + std::to_string(a.heads) + ", " + std::to_string(a.q) +
                         ", " + std::to_string(a.k) + "] but the metadata labels " + std::to_string(q.size()) +
                         " queries and " + std::to_string(k.size()) + " keys");
      a.headIndex = capture->heads();
      a.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      out.layers.push_back(std::move(a));
    }
    out.stackQueryLabels.push_back(q);
    out.stackKeyLabels.push_back(k);
  }
  if (out.layers.empty()) throw InputError("'" + path + "' holds no attention tensors");
  out.queryLabels = out.stackQueryLabels.front();
  out.keyLabels = out.stackKeyLabels.front();
  return out;
}

namespace {
/// A capture matrix as a tensor view (no copy).
at::Tensor viewOf(const AttentionMatrix& a) {
  return at::from_blob(const_cast<float*>(a.data.data()), {a.heads, a.q, a.k}, at::kFloat);  // [heads, q, k]
}
std::vector<float> toVector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
}  // namespace

std::vector<float> aggregateAttention(const CaptureResult& capture, const std::string& stack, int layer,
                                      const std::string& kind, int* rows, int* cols) {
  if (capture.onDemand())
    throw InputError("this long input's attention is kept as queries and keys, computed head by head on demand; "
                     "aggregates and head metrics need every head's probabilities (kept for shorter inputs)");
  at::Tensor out;
  if (kind == "rollout") {
    std::vector<at::Tensor> layers;
    for (int l = 0; l <= layer; ++l) {
      const AttentionMatrix* a = capture.find(stack, l);
      if (!a) throw InputError("rollout needs every layer up to " + std::to_string(layer) + " captured");
      if (a->q != a->k) throw InputError("rollout needs square self-attention (the '" + stack + "' stack is not)");
      layers.push_back(viewOf(*a));
    }
    out = attentionRollout(layers);  // [T, T]
  } else if (kind == "flow") {
    std::vector<at::Tensor> layers;
    for (int l = 0; l <= layer; ++l) {
      const AttentionMatrix* a = capture.find(stack, l);
      if (!a) throw InputError("attention flow needs every layer up to " + std::to_string(layer) + " captured");
      if (a->q != a->k) throw InputError("attention flow needs square self-attention (the '" + stack + "' stack is not)");
      layers.push_back(viewOf(*a));
    }
    const int64_t T = layers.front().size(-1);
    // One maximum flow per (query, input) pair: the whole matrix only for short inputs.
    if (T > kFlowMatrixPositions)
      throw InputError("the attention-flow matrix solves T² maximum flows; " + std::to_string(T) +
                       " positions is more than the " + std::to_string(kFlowMatrixPositions) +
                       " it draws here (attnscope-cli attribute --method flow --position P gives one row)");
    std::vector<at::Tensor> rowsOut;
    for (int64_t q = 0; q < T; ++q) rowsOut.push_back(attentionFlow(layers, q));  // [T]
    out = at::stack(rowsOut);                                                   // [T, T]
  } else {
    const AttentionMatrix* a = capture.find(stack, layer);
    if (!a) throw InputError("layer " + std::to_string(layer) + " of '" + stack + "' was not captured");
    if (kind == "mean") out = viewOf(*a).mean(0);                      // [q, k]
    else if (kind == "max") out = std::get<0>(viewOf(*a).max(0));    // [q, k]
    else throw InputError("aggregate must be mean, max, rollout or flow (got '" + kind + "')");
  }
  *rows = static_cast<int>(out.size(0));
  *cols = static_cast<int>(out.size(1));
  return toVector(out);
}

namespace {
/// The cells of head slot \p h of \p a that query rows [r0, r1) can see: [rows, w] float32 for keys [*lo, *lo + w)
/// (every other key of those rows is 0); undefined when they see none. Dense layers give all keys.
at::Tensor visibleRows(const CaptureResult& capture, const AttentionMatrix& a, int h, int64_t r0, int64_t r1,
                       int64_t* lo) {
  if (!a.onDemand) {
    *lo = 0;
    return viewOf(a)[h].narrow(0, r0, r1 - r0);  // [rows, k]
  }
  const auto* qk = dynamic_cast<const OnDemandSource*>(capture.source.get());
  if (!qk) throw InputError("layer " + std::to_string(a.layer) + " of '" + a.stack + "' has no cells to compute");
  return qk->find(a.stack, a.layer).visibleTile(h, r0, r1 - r0, 0, a.k, lo);  // [rows, w]
}
}  // namespace

std::vector<float> aggregateRow(const CaptureResult& capture, const std::string& stack, int layer,
                                const std::string& kind, int query) {
  const AttentionMatrix* top = capture.find(stack, layer);
  if (!top) throw InputError("layer " + std::to_string(layer) + " of '" + stack + "' was not captured");
  if (query < 0 || query >= top->q)
    throw InputError("query row " + std::to_string(query) + " is outside 0.." + std::to_string(top->q - 1));
  const auto dbl = at::TensorOptions().dtype(at::kDouble);
  if (kind == "mean" || kind == "max") {
    at::Tensor out = at::zeros({top->k}, dbl);  // [k]
    if (kind == "max") out.fill_(-1.0);
    for (int h = 0; h < top->heads; ++h) {
      int64_t lo = 0;
      const at::Tensor r = visibleRows(capture, *top, h, query, query + 1, &lo);  // [1, w]
      at::Tensor full = at::zeros({top->k}, dbl);                                  // [k]
      if (r.defined()) full.narrow(0, lo, r.size(1)).copy_(r[0]);
      out = kind == "mean" ? out + full : at::maximum(out, full);  // [k]
    }
    if (kind == "mean") out = out / top->heads;
    return toVector(out);
  }
  if (kind == "flow")
    throw InputError("attention flow solves maximum flows over every layer's whole matrix; this long input's "
                     "attention is kept as queries and keys (use mean, max or rollout for one query row)");
  if (kind != "rollout") throw InputError("aggregate must be mean, max or rollout (got '" + kind + "')");
  // Row `query` of R = m_L ⋯ m_0 with m_l = norm(0.5 · mean_heads(A_l) + 0.5 · I): a row vector times one layer's
  // matrix at a time, the matrix visited in blocks of query rows that the vector reaches (never [T, T]).
  const int64_t T = top->k;
  at::Tensor v = at::zeros({T}, dbl);  // [T]
  v[query] = 1.0;
  for (int l = layer; l >= 0; --l) {
    const AttentionMatrix* a = capture.find(stack, l);
    if (!a) throw InputError("rollout needs every layer up to " + std::to_string(layer) + " captured");
    if (a->q != a->k || a->k != T) throw InputError("rollout needs square self-attention (the '" + stack + "' stack is not)");
    const at::Tensor nz = v.nonzero();  // [n, 1]
    at::Tensor next = at::zeros({T}, dbl);  // [T]
    if (nz.numel() > 0) {
      const int64_t first = nz[0][0].item<int64_t>(), last = nz[nz.size(0) - 1][0].item<int64_t>();
      const int64_t block = std::max<int64_t>(16, (int64_t(1) << 21) / T);
      for (int64_t r0 = first; r0 <= last; r0 += block) {
        const int64_t r1 = std::min(last + 1, r0 + block);
        at::Tensor m = at::zeros({r1 - r0, T}, dbl);  // [rows, T]
        for (int h = 0; h < a->heads; ++h) {
          int64_t lo = 0;
          const at::Tensor t = visibleRows(capture, *a, h, r0, r1, &lo);  // [rows, w]
          if (t.defined()) m.narrow(1, lo, t.size(1)).add_(t.to(at::kDouble));
        }
        m = m / a->heads * 0.5;                                                // [rows, T]
        const at::Tensor coeff = v.narrow(0, r0, r1 - r0) / (m.sum(1) + 0.5);  // [rows]
        next += at::matmul(coeff.unsqueeze(0), m)[0];                          // [T]
        next.narrow(0, r0, r1 - r0).add_(coeff * 0.5);
      }
    }
    v = next;
  }
  return toVector(v);
}

CaptureResult sampledThumbnails(const CaptureResult& capture, const std::string& stack, int rows, int cols) {
  if (!capture.source) throw InputError("thumbnails from sampled rows are for long inputs' on-demand captures");
  const auto si = std::find(capture.stacks.begin(), capture.stacks.end(), stack);
  if (si == capture.stacks.end()) throw InputError("the capture has no stack '" + stack + "'");
  const auto& qLabels = capture.stackQueryLabels[static_cast<size_t>(si - capture.stacks.begin())];
  const auto& kLabels = capture.stackKeyLabels[static_cast<size_t>(si - capture.stacks.begin())];
  CaptureResult out;
  out.stacks = {stack};
  out.variant = capture.variant;
  std::vector<std::string> rowLabels, colLabels;
  bool labelled = false;
  for (const auto& a : capture.layers) {
    if (a.stack != stack || !a.onDemand) continue;
    const int nr = std::min(rows, a.q), bx = (a.k + cols - 1) / cols;
    AttentionMatrix t;
    t.stack = stack;
    t.layer = a.layer;
    t.headIndex = a.headIndex;
    t.heads = a.heads;
    t.q = nr;
    for (int h = 0; h < a.heads; ++h)
      for (int i = 0; i < nr; ++i) {
        const int row = nr == 1 ? 0 : static_cast<int>(static_cast<int64_t>(i) * (a.q - 1) / (nr - 1));
        int r = 0, c = 0;
        const auto v = capture.source->blockMaxima(stack, a.layer, h, row, row + 1, 0, a.k, 1, bx, &r, &c);
        t.k = c;
        t.data.insert(t.data.end(), v.begin(), v.end());
        if (!labelled && h == 0) rowLabels.push_back(row < static_cast<int>(qLabels.size()) ? qLabels[row] : std::to_string(row));
      }
    if (!labelled) {
      for (int c = 0; c < t.k; ++c)
        colLabels.push_back(c * bx < static_cast<int>(kLabels.size()) ? kLabels[static_cast<size_t>(c * bx)] : std::to_string(c * bx));
      labelled = true;
    }
    out.layers.push_back(std::move(t));
  }
  if (out.layers.empty()) throw InputError("stack '" + stack + "' holds no on-demand layers");
  out.stackQueryLabels = {rowLabels};
  out.stackKeyLabels = {colLabels};
  out.queryLabels = rowLabels;
  out.keyLabels = colLabels;
  return out;
}

std::vector<float> captureHeadMetric(const CaptureResult& capture, const std::string& stack, const std::string& metric,
                                     int* layers, int* heads) {
  if (capture.onDemand())
    throw InputError("this long input's attention is kept as queries and keys, computed head by head on demand; "
                     "aggregates and head metrics need every head's probabilities (kept for shorter inputs)");
  if (metric != "entropy" && metric != "distance" && metric != "sink")
    throw InputError("head metric must be entropy, distance, sink or importance (got '" + metric + "')");
  int L = 0, H = 0;
  for (const auto& a : capture.layers) {
    if (a.stack != stack) continue;
    L = std::max(L, a.layer + 1);
    for (int h : a.headIndex) H = std::max(H, h + 1);
  }
  *layers = L;
  *heads = H;
  std::vector<float> out(static_cast<size_t>(L) * H, 0.0f);
  for (const auto& a : capture.layers) {
    if (a.stack != stack) continue;
    const at::Tensor probs = viewOf(a);  // [heads, q, k]
    at::Tensor values;                   // [heads]
    if (metric == "entropy") {
      values = (-at::xlogy(probs, probs).sum(-1)).mean(1);  // [heads]
    } else if (metric == "distance") {
      const at::Tensor qi = at::arange(a.q, at::kFloat).unsqueeze(1);  // [q, 1]
      const at::Tensor kj = at::arange(a.k, at::kFloat).unsqueeze(0);  // [1, k]
      values = (probs * (qi - kj).abs()).sum(-1).mean(1);              // [heads]
    } else {
      values = probs.select(2, 0).mean(1);  // [heads]
    }
    const std::vector<float> v = toVector(values);
    for (int h = 0; h < a.heads; ++h) out[static_cast<size_t>(a.layer) * H + a.headIndex[h]] = v[h];
  }
  return out;
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

CaptureResult EngineSession::generate(const RunRequest& request, int maxNewTokens, int* promptLength,
                                      const std::function<void(int, int)>& progress,
                                      const std::function<bool()>& cancelled) {
  RunControl control;
  wireControl(control, progress, cancelled);
  std::unique_ptr<AttentionVariant> variant;
  PreparedInput input = prepareWithVariant(*m->model, request, variant);
  GenerateResult gen = attnscope::generate(*m->model, input, maxNewTokens, {}, &control, variant.get());
  // The decoder sequence grew by the generated tokens: label every stack against the grown sequence.
  PreparedInput grown = input;
  grown.labels = gen.labels;
  if (grown.sequenceLabels.count("decoder")) grown.sequenceLabels["decoder"] = gen.labels;
  RunResult run;
  run.capture = gen.capture;
  run.seconds = gen.seconds;
  run.variant = gen.variant;
  run.prediction = {{"task", "generation"}, {"continuation", gen.continuation}};
  CaptureResult out = toCaptureResult(*m->model, grown, run, m->summary.heads);
  out.predictionText = "generated: " + gen.continuation;
  for (const auto& step : stepKlJson(*m->model, gen))
    out.stepKl.push_back({step["kl"].get<double>(), step["token"].get<std::string>(),
                          step["full_top1"].get<std::string>(), step["agree"].get<bool>()});
  m->lastInput = std::move(input);
  m->lastGeneration = std::move(gen);
  m->lastRun.reset();  // the overlay and saved capture now describe the generation, not an older run
  m->dropOverlayFile();
  *promptLength = static_cast<int>(gen.promptLength);
  return out;
}

void EngineSession::saveLastCapture(const std::string& path) const {
  if (m->lastGeneration) {
    saveGeneration(path, *m->model, *m->lastInput, *m->lastGeneration);
    return;
  }
  if (!m->lastRun) throw InputError("nothing to save: run the model first");
  saveCapture(path, *m->model, *m->lastInput, *m->lastRun);
}

AudioPreview audioPreview(const std::string& path, double offsetSeconds, double seconds, int width, int height) {
  if (width < 8 || height < 12) throw InputError("audio preview: the picture is too small");
  const AudioClip clip = decodeAudio(path, offsetSeconds, seconds, 16000);
  AudioPreview out;
  out.width = width;
  out.height = height;
  out.fileSeconds = clip.fileSeconds;
  out.rgb.assign(static_cast<size_t>(width) * height * 3, 255);
  auto put = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    uint8_t* p = &out.rgb[(static_cast<size_t>(y) * width + x) * 3];
    p[0] = r;
    p[1] = g;
    p[2] = b;
  };
  const int waveH = height / 3, specH = height - waveH;
  const size_t n = clip.samples.size();
  // Waveform: the min..max of the samples under each column, centred.
  for (int x = 0; x < width && n > 0; ++x) {
    const size_t a = n * x / width, b = std::max(a + 1, n * (x + 1) / width);
    float lo = 0, hi = 0;
    for (size_t i = a; i < b && i < n; ++i) {
      lo = std::min(lo, clip.samples[i]);
      hi = std::max(hi, clip.samples[i]);
    }
    const int y0 = std::clamp(static_cast<int>((0.5f - 0.5f * hi) * (waveH - 1)), 0, waveH - 1);
    const int y1 = std::clamp(static_cast<int>((0.5f - 0.5f * lo) * (waveH - 1)), 0, waveH - 1);
    for (int y = y0; y <= y1; ++y) put(x, y, 59, 82, 139);
  }
  // Log-mel spectrogram (Whisper's front end, 100 frames per second), low frequencies at the bottom.
  const int64_t frames = std::max<int64_t>(1, static_cast<int64_t>(n / 160));
  const at::Tensor wave = at::from_blob(const_cast<float*>(clip.samples.data()), {static_cast<int64_t>(n)},
                                        at::kFloat);                                   // [samples]
  const at::Tensor mel = whisperLogMel(wave, melFilterBank(80, 400, 16000), 400, 160, frames).contiguous();  // [80, frames]
  const float* m = mel.data_ptr<float>();
  float lo = m[0], hi = m[0];
  for (int64_t i = 0; i < mel.numel(); ++i) {
    lo = std::min(lo, m[i]);
    hi = std::max(hi, m[i]);
  }
  const float span = hi > lo ? hi - lo : 1.0f;
  for (int y = 0; y < specH; ++y) {
    const int band = std::clamp(79 - y * 80 / specH, 0, 79);
    for (int x = 0; x < width; ++x) {
      const int64_t f = std::min<int64_t>(frames - 1, static_cast<int64_t>(x) * frames / width);
      const float t = (m[band * frames + f] - lo) / span;  // 0..1
      const auto v = static_cast<uint8_t>(std::clamp(255.0f * t, 0.0f, 255.0f));
      put(x, waveH + y, static_cast<uint8_t>(v), static_cast<uint8_t>(v * 0.55f), static_cast<uint8_t>(80 + v * 0.3f));
    }
  }
  return out;
}

}  // namespace attnscope
