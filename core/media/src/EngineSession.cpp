// EngineSession: opening a model and running it (runs, generation, comparisons, sweeps) for the GUI.
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

std::string libtorchVersion() { return TORCH_VERSION; }

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
  o.attentionSinks = i.attentionSinks;
  o.experts = i.experts;
  o.expertsPerToken = i.expertsPerToken;
  o.routedLayers = i.routedLayers;
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
/// \p capture's sink mass of (stack, layer) into \p a (row-major [heads, q]) when the family has sinks.
void addSinkMass(AttentionMatrix& a, const AttentionCapture& capture) {
  const auto it = capture.sinkMass().find({a.stack, a.layer});
  if (it == capture.sinkMass().end()) return;
  const at::Tensor c = it->second.contiguous();  // [heads, q]
  a.sinkMass.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

/// Every MoE layer's routing \p capture recorded, ordered by layer.
void addRouting(CaptureResult& out, const AttentionCapture& capture) {
  for (const auto& [key, r] : capture.routing()) {
    if (key.first != "self") continue;
    CaptureResult::Routing g;
    g.layer = key.second;
    g.tokens = static_cast<int>(r.probs.size(0));
    g.experts = static_cast<int>(r.probs.size(1));
    g.k = static_cast<int>(r.chosen.size(1));
    const at::Tensor probs = r.probs.contiguous(), weights = r.weights.contiguous();  // [T, E], [T, k]
    const at::Tensor chosen = r.chosen.to(at::kInt).contiguous();                     // [T, k]
    g.probs.assign(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel());
    g.weights.assign(weights.data_ptr<float>(), weights.data_ptr<float>() + weights.numel());
    g.chosen.assign(chosen.data_ptr<int>(), chosen.data_ptr<int>() + chosen.numel());
    out.routing.push_back(std::move(g));
  }
}

void addCapturedLayers(CaptureResult& out, const AttentionCapture& capture, int totalHeads) {
  addRouting(out, capture);
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
    addSinkMass(a, capture);
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
    addSinkMass(a, capture);
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

}  // namespace attnscope
