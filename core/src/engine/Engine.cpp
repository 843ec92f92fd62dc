#include "attnscope/Engine.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/topk.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <malloc.h>
#include <cstdio>
#include <filesystem>

#include "base/AllocatorTuning.h"
#include "engine/FamilyCommon.h"
#include "base/Unicode.h"
#include "attnscope/CaptureFile.h"
#include "attnscope/Device.h"
#include "attnscope/Errors.h"
#include "attnscope/HubCache.h"
#include "attnscope/SafetensorsFile.h"
#include "attnscope/WeightStore.h"

namespace attnscope {

namespace {

at::Tensor longRow(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);  // [1, T]
}

std::vector<int64_t> toIds(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).cpu().contiguous().view({-1});  // [T]
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::string labelOf(const LoadedModel& m, int64_t id) {
  return m.tokenizer ? m.tokenizer->displayLabel(id) : std::to_string(id);
}

void checkSelection(const LoadedModel& m, const CaptureSelection& s) {
  const ModelInfo& info = m.model->info();
  for (int l : s.layers)
    if (l >= info.layers)
      throw InputError("layer " + std::to_string(l) + " does not exist (the model has " +
                       std::to_string(info.layers) + " layers, 0-" + std::to_string(info.layers - 1) + ")");
  for (int h : s.heads)
    if (h >= info.heads)
      throw InputError("head " + std::to_string(h) + " does not exist (the model has " +
                       std::to_string(info.heads) + " heads, 0-" + std::to_string(info.heads - 1) + ")");
}

std::vector<int64_t> eosIds(const LoadedModel& m) {
  std::vector<int64_t> out;
  auto collect = [&](const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("eos_token_id")) return;
    const auto& v = j["eos_token_id"];
    if (v.is_number_integer()) out.push_back(v.get<int64_t>());
    if (v.is_array())
      for (const auto& e : v)
        if (e.is_number_integer()) out.push_back(e.get<int64_t>());
  };
  collect(m.config.generation());
  if (out.empty()) collect(m.config.json());
  if (out.empty() && m.tokenizer && m.tokenizer->eosId()) out.push_back(*m.tokenizer->eosId());
  return out;
}

nlohmann::json topTokens(const LoadedModel& m, const at::Tensor& logits, int k) {
  const at::Tensor probs = at::softmax(logits.to(at::kFloat), -1);  // [V]
  const auto top = at::topk(probs, std::min<int64_t>(k, probs.size(0)));
  nlohmann::json out = nlohmann::json::array();
  const at::Tensor values = std::get<0>(top).contiguous(), indices = std::get<1>(top).contiguous();
  for (int64_t i = 0; i < values.size(0); ++i) {
    const int64_t id = indices[i].item<int64_t>();
    out.push_back({{"id", id}, {"token", labelOf(m, id)}, {"probability", values[i].item<double>()}});
  }
  return out;
}

nlohmann::json predictOutputs(const LoadedModel& m, const PreparedInput& input, const TensorMap& outputs) {
  const ModelInfo& info = m.model->info();
  auto it = outputs.find("logits");
  if (it == outputs.end()) return nlohmann::json::object();
  const at::Tensor logits = it->second;
  if (info.head == "classifier") {
    const at::Tensor probs = at::softmax(logits, -1);  // [labels]
    const int64_t best = probs.argmax().item<int64_t>();
    nlohmann::json all = nlohmann::json::object();
    for (int64_t i = 0; i < probs.size(0); ++i)
      all[i < static_cast<int64_t>(info.labels.size()) ? info.labels[i] : std::to_string(i)] = probs[i].item<double>();
    return {{"task", "classification"},
            {"label", best < static_cast<int64_t>(info.labels.size()) ? info.labels[best] : std::to_string(best)},
            {"index", best},
            {"probability", probs[best].item<double>()},
            {"probabilities", all}};
  }
  if (info.head == "lm") return {{"task", "next-token"}, {"next_tokens", topTokens(m, logits[logits.size(0) - 1], 5)}};
  if (info.head == "ctc") {  // greedy CTC: argmax per frame, repeats merged, the blank (pad) dropped
    const std::vector<int64_t> ids = toIds(logits.argmax(-1));
    const int64_t blank = m.config.optInt("pad_token_id", 0);
    std::vector<int64_t> kept;
    int64_t previous = -1;
    for (int64_t id : ids) {
      if (id != previous && id != blank) kept.push_back(id);
      previous = id;
    }
    return {{"task", "ctc"},
            {"predicted_ids", ids},
            {"text", m.tokenizer ? m.tokenizer->decode(kept) : std::string()}};
  }
  if (info.head == "mlm") {
    nlohmann::json fills = nlohmann::json::array();
    const auto ids = toIds(input.tensors.at("input_ids"));
    std::optional<int64_t> mask;  // BERT's [MASK], RoBERTa's <mask>
    for (const char* name : {"[MASK]", "<mask>"})
      if (!mask && m.tokenizer) mask = m.tokenizer->idOf(name);
    for (size_t i = 0; mask && i < ids.size(); ++i)
      if (ids[i] == *mask) fills.push_back({{"position", i}, {"candidates", topTokens(m, logits[i], 5)}});
    return {{"task", "fill-mask"}, {"masks", fills}};
  }
  return nlohmann::json::object();
}

}  // namespace

nlohmann::json predict(const LoadedModel& m, const PreparedInput& input, const TensorMap& outputs) {
  return predictOutputs(m, input, outputs);
}

namespace detail {
/// Attention buffers ([heads, T, T]) are large and short-lived. glibc returns every allocation above its mmap
/// threshold (128 KiB at start) to the kernel on free, so each forward pays page faults to get them back
/// (measured: ~25 % of a BERT-base forward at 512 tokens). Keep up to 64 MiB blocks in the heap and trim
/// only above 512 MiB free. Once per process.
void tuneAllocator() {
  static const bool done = [] {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
    return true;
  }();
  (void)done;
}
}  // namespace detail

std::shared_ptr<LoadedModel> loadModel(const std::string& dir, const std::string& deviceSpec,
                                       const std::string& dtypeSpec) {
  detail::tuneAllocator();
  auto m = std::make_shared<LoadedModel>();
  m->dir = resolveModelFolder(dir);  // a folder, or a Hub id in the local cache
  m->config = ModelConfig::load(m->dir);
  const ModelFamily& family = ModelRegistry::instance().familyFor(m->config);
  m->device = parseDevice(deviceSpec);
  WeightStore weights = WeightStore::open(m->dir);
  const std::string dtype = weights.storedDtype();
  const at::TensorOptions options = weightOptions(m->device, dtype, dtypeSpec);
  {
    // Not in InferenceMode: weights must be ordinary tensors so that autograd can use them (head importance).
    try {
      m->model = family.factory(m->config, weights, options);
    } catch (const nlohmann::json::exception& e) {
      throw ConfigError("'" + m->config.path() + "' holds a value of the wrong type: " + e.what());
    } catch (const c10::Error& e) {
      // A tensor operation refused what config.json describes (a shape the weights cannot take): the file's fault.
      std::string what = e.what_without_backtrace();
      if (what.size() > 300) what = what.substr(0, 300) + "...";
      throw ConfigError("'" + m->config.path() + "' does not describe the weights in '" + m->dir + "': " + what);
    }
  }
  weights.finish();
  ModelInfo& info = const_cast<ModelInfo&>(m->model->info());
  info.parameters = weights.parameterCount();
  info.dtype = dtype;
  info.computeDtype = dtypeName(options.dtype().toScalarType());
  info.device = deviceName(m->device);
  try {
    m->tokenizer = Tokenizer::load(m->dir);
  } catch (const TokenizerError& e) {
    m->tokenizerError = e.what();  // the weights are fine: exact inputs still run; text input reports this
  }
  return m;
}

namespace {
int64_t decoderStartToken(const LoadedModel& m) {
  for (const nlohmann::json* j : {&m.config.generation(), &m.config.json()})
    if (j->is_object() && j->contains("decoder_start_token_id") && (*j)["decoder_start_token_id"].is_number_integer())
      return (*j)["decoder_start_token_id"].get<int64_t>();
  throw InputError("'" + m.config.path() + "' has no decoder_start_token_id, so the decoder cannot be started");
}
}  // namespace

PreparedInput prepareSeq2Seq(const LoadedModel& m, const std::string& source, const std::optional<std::string>& target) {
  const ModelInfo& info = m.model->info();
  if (!info.encoderDecoder || info.modality != "text")
    throw InputError("a target text is for encoder-decoder text models (T5, BART); " + info.architecture +
                     " is not one");
  PreparedInput in = prepareText(m, source);
  std::vector<int64_t> dec{decoderStartToken(m)};
  if (target) {
    size_t bad = 0;
    if (!unicode::isValidUtf8(*target, &bad))
      throw InputError("the target text is not valid UTF-8 (invalid byte sequence at byte " + std::to_string(bad) + ")");
    const Encoding labels = m.tokenizer->encode(*target);
    if (labels.ids.empty()) throw InputError("the target text produced no tokens");
    dec.insert(dec.end(), labels.ids.begin(), labels.ids.end() - 1);  // shift right: start + labels[:-1]
    in.description["target"] = *target;
  }
  const int64_t limit = info.decoderPositions > 0 ? info.decoderPositions : 0;
  if (limit > 0 && static_cast<int64_t>(dec.size()) > limit)
    throw InputError("the target has " + std::to_string(dec.size()) + " decoder tokens but the model accepts at most " +
                     std::to_string(limit));
  in.tensors["decoder_input_ids"] = longRow(dec);  // [1, Td]
  labelPositions(m, in);
  return in;
}

PreparedInput prepareText(const LoadedModel& m, const std::string& text, const std::optional<std::string>& pair) {
  if (!m.tokenizer && !m.tokenizerError.empty()) throw TokenizerError(m.tokenizerError);
  if (!m.tokenizer)
    throw InputError("model folder '" + m.dir +
                     "' has no tokenizer (tokenizer.json, vocab.txt, or vocab.json + merges.txt); give exact "
                     "inputs with --inputs instead of text");
  size_t bad = 0;
  if (!unicode::isValidUtf8(text, &bad))
    throw InputError("the text is not valid UTF-8 (invalid byte sequence at byte " + std::to_string(bad) + ")");
  if (pair && !unicode::isValidUtf8(*pair, &bad))
    throw InputError("the second text is not valid UTF-8 (invalid byte sequence at byte " + std::to_string(bad) + ")");
  if (pair && m.model->info().encoderDecoder)
    throw InputError("this encoder-decoder model takes a target text, not a text pair");
  Encoding enc = pair ? m.tokenizer->encodePair(text, *pair) : m.tokenizer->encode(text);
  if (enc.ids.empty()) throw InputError("the text produced no tokens (is it empty?); the model needs at least one");
  const ModelInfo& info = m.model->info();
  if (info.maxPositions > 0 && static_cast<int64_t>(enc.ids.size()) > info.maxPositions) {
    const size_t n = enc.ids.size(), keep = static_cast<size_t>(info.maxPositions);
    const bool keepLast = m.tokenizer->isSpecial(enc.ids.back()) && !info.causal;  // keep the closing [SEP]
    auto cut = [&](auto& v) {
      auto last = v.back();
      v.resize(keep);
      if (keepLast) v.back() = last;
    };
    cut(enc.ids);
    cut(enc.typeIds);
    cut(enc.pieces);
    warn("text has " + std::to_string(n) + " tokens but the model accepts at most " + std::to_string(keep) +
         "; truncated to the first " + std::to_string(keep));
  }
  PreparedInput in;
  in.tensors["input_ids"] = longRow(enc.ids);  // [1, T]
  in.tensors["attention_mask"] = at::ones({1, static_cast<int64_t>(enc.ids.size())},
                                          at::TensorOptions().dtype(at::kLong));  // [1, T]
  const auto names = m.model->inputNames();
  if (std::find(names.begin(), names.end(), "token_type_ids") != names.end())
    in.tensors["token_type_ids"] = longRow(enc.typeIds);  // [1, T]
  for (int64_t id : enc.ids) in.labels.push_back(labelOf(m, id));
  in.description = {{"text", text}};
  if (pair) in.description["text_pair"] = *pair;
  if (info.encoderDecoder) {  // T5 / BART: the decoder starts from its start token (a target replaces it)
    in.tensors["decoder_input_ids"] = longRow({decoderStartToken(m)});  // [1, 1]
    labelPositions(m, in);
  }
  return in;
}

namespace {
/// Whether \p name is something a capture file holds besides the model inputs (a capture fed back as inputs).
bool isCaptureOutput(const std::string& name) {
  for (const char* part : {"attentions.", "queries.", "keys.", "lse.", "bias_diagonals.", "key_padding_mask.",
                           "last_hidden_state"})
    if (name.find(part) != std::string::npos) return true;
  // Routing and sink mass of MoE / sink families (router.<l>, router_logits.<l>, …, sink_probs.<l>).
  if (name.rfind("router", 0) == 0 || name.rfind("sink_probs", 0) == 0) return true;
  return name == "logits" || name == "logits_last" || name == "pooler_output" || name == "generated_ids";
}
}  // namespace

PreparedInput prepareInputsFile(const LoadedModel& m, const std::string& path) {
  std::shared_ptr<SafetensorsFile> file;
  try {
    file = SafetensorsFile::open(path);
  } catch (const SafetensorsError& e) {
    throw InputError(std::string("model inputs file: ") + e.what());
  }
  PreparedInput in;
  const auto accepted = m.model->inputNames();
  std::string acceptedList;
  for (const auto& a : accepted) acceptedList += (acceptedList.empty() ? "" : ", ") + a;
  for (const auto& name : file->names()) {
    if (std::find(accepted.begin(), accepted.end(), name) != accepted.end()) {
      in.tensors[name] = file->tensor(name).clone();
    } else if (!isCaptureOutput(name)) {
      warn("model inputs file: tensor '" + name + "' in '" + path + "' is not an input of this model (accepted: " +
           acceptedList + "); ignored");
    }
  }
  if (in.tensors.empty())
    throw InputError("model inputs file '" + path + "' holds none of this model's inputs (" + acceptedList + ")");
  if (m.model->info().modality == "text" && !in.tensors.count("input_ids"))
    throw InputError("model inputs file '" + path + "' has no tensor 'input_ids' (int64 [1, T])");
  in.description = {{"inputs_file", std::filesystem::absolute(path).string()}};
  labelPositions(m, in);
  return in;
}

namespace {
std::string seconds(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fs", t);
  return buf;
}
}  // namespace

void labelPositions(const LoadedModel& m, PreparedInput& in) {
  const ModelInfo& info = m.model->info();
  in.labels.clear();
  in.sequenceLabels.clear();
  const double offset = in.description.is_object() ? in.description.value("offset_seconds", 0.0) : 0.0;
  std::vector<std::string> frames = info.prefixTokens;
  if (info.modality == "image" && info.patchSize > 0) {
    int height = info.imageHeight, width = info.imageWidth;  // the input's own size for models that take any
    auto px = in.tensors.find("pixel_values");
    if (px != in.tensors.end() && px->second.dim() >= 3) {
      height = static_cast<int>(px->second.size(-2));
      width = static_cast<int>(px->second.size(-1));
    }
    for (int r = 0; r < height / info.patchSize; ++r)
      for (int c = 0; c < width / info.patchSize; ++c)
        frames.push_back("(" + std::to_string(r) + "," + std::to_string(c) + ")");
    in.labels = frames;
    return;
  }
  if (info.modality == "audio") {
    int n = info.maxPositions - static_cast<int>(info.prefixTokens.size());
    auto wave = in.tensors.find("input_values");
    if (info.anyAudioLength && wave != in.tensors.end()) {  // frames of this input through the conv front end
      int64_t frames = wave->second.size(-1);
      for (size_t i = 0; i < info.audioConvKernels.size() && i < info.audioConvStrides.size(); ++i)
        frames = frames < info.audioConvKernels[i] ? 0 : (frames - info.audioConvKernels[i]) / info.audioConvStrides[i] + 1;
      n = static_cast<int>(frames);
    }
    for (int i = 0; i < n; ++i) frames.push_back(seconds(offset + i * info.secondsPerPosition));
    if (std::find(info.stacks.begin(), info.stacks.end(), "encoder") == info.stacks.end()) {
      in.labels = frames;
      return;
    }
    in.sequenceLabels["encoder"] = frames;
    auto dec = in.tensors.find("decoder_input_ids");
    if (dec != in.tensors.end())
      for (int64_t id : toIds(dec->second)) in.labels.push_back(labelOf(m, id));
    in.sequenceLabels["decoder"] = in.labels;
    return;
  }
  auto ids = in.tensors.find("input_ids");
  if (ids != in.tensors.end())
    for (int64_t id : toIds(ids->second)) in.labels.push_back(labelOf(m, id));
  if (info.encoderDecoder) {  // text encoder–decoder: source tokens for the encoder, target tokens for the decoder
    in.sequenceLabels["encoder"] = in.labels;
    in.labels.clear();
    auto dec = in.tensors.find("decoder_input_ids");
    if (dec != in.tensors.end())
      for (int64_t id : toIds(dec->second)) in.labels.push_back(labelOf(m, id));
    in.sequenceLabels["decoder"] = in.labels;
  }
}

std::pair<std::vector<std::string>, std::vector<std::string>> stackLabels(const PreparedInput& in,
                                                                          const std::string& stack) {
  auto get = [&](const std::string& seq) {
    auto it = in.sequenceLabels.find(seq);
    return it == in.sequenceLabels.end() ? in.labels : it->second;
  };
  if (stack == "encoder") return {get("encoder"), get("encoder")};
  if (stack == "decoder") return {get("decoder"), get("decoder")};
  if (stack == "cross") return {get("decoder"), get("encoder")};
  return {in.labels, in.labels};
}

RunResult runModel(LoadedModel& m, const PreparedInput& input, const CaptureSelection& selection, RunControl* control,
                   const AttentionVariant* variant, bool lastLogitsOnly) {
  checkSelection(m, selection);
  const ModelInfo& info = m.model->info();
  if (control) {
    control->total = info.layers * static_cast<int>(info.stacks.size());
    control->done = 0;
  }
  RunResult r;
  r.capture = std::make_shared<AttentionCapture>(selection, control);
  c10::InferenceMode guard;
  ForwardOptions options;
  options.hook = r.capture.get();
  options.variant = variant;
  options.lastLogitsOnly = lastLogitsOnly && info.head == "lm";
  r.lastLogitsOnly = options.lastLogitsOnly;
  if (variant) r.variant = variant->spec();
  const auto start = std::chrono::steady_clock::now();
  TensorMap out = guardAllocations([&] { return m.model->forward(input.tensors, options); }, "the forward pass");
  for (auto& kv : out) kv.second = kv.second.to(at::TensorOptions().device(at::kCPU).dtype(at::kFloat));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.outputs = std::move(out);
  r.prediction = predictOutputs(m, input, r.outputs);
  return r;
}

GenerateResult generate(LoadedModel& m, const PreparedInput& prompt, int maxNewTokens, const CaptureSelection& selection,
                        RunControl* control, const AttentionVariant* variant) {
  const ModelInfo& info = m.model->info();
  if (!info.causal && !info.encoderDecoder)
    throw InputError("model '" + m.dir + "' (" + info.architecture + ") is not a decoder language model; it cannot generate");
  if (maxNewTokens < 1) throw InputError("the number of new tokens must be at least 1");
  checkSelection(m, selection);
  if (selection.kind == CaptureKind::QueryKey)
    throw InputError("generation stores probabilities (each step adds one query row); queries and keys are for runs");
  const std::string idsName = info.encoderDecoder ? "decoder_input_ids" : "input_ids";
  if (!prompt.tensors.count(idsName)) throw InputError("generation needs the input '" + idsName + "'");
  GenerateResult g;
  g.ids = toIds(prompt.tensors.at(idsName));
  g.promptLength = static_cast<int64_t>(g.ids.size());
  int budget = maxNewTokens;
  const int positions = info.encoderDecoder ? info.decoderPositions : info.maxPositions;
  if (positions > 0 && g.promptLength + budget > positions) {
    budget = static_cast<int>(std::max<int64_t>(0, positions - g.promptLength));
    warn("the model has " + std::to_string(positions) + " positions; generating " + std::to_string(budget) +
         " tokens instead of " + std::to_string(maxNewTokens));
  }
  if (control) {
    control->total = info.layers * static_cast<int>(info.stacks.size()) * (budget + 1);
    control->done = 0;
  }
  g.capture = std::make_shared<AttentionCapture>(selection, control);
  const auto eos = eosIds(m);
  c10::InferenceMode guard;
  std::vector<LayerKvCache> cache(info.layers);
  TensorMap state;
  ForwardOptions options;
  options.hook = g.capture.get();
  options.cache = &cache;
  options.state = &state;
  options.variant = variant;
  if (variant) g.variant = variant->spec();
  // The full model beside a variant: its own cache and state, no capture, the variant's tokens.
  const bool beside = variant && !variant->isIdentity();
  std::vector<LayerKvCache> fullCache(beside ? info.layers : 0);
  TensorMap fullState;
  ForwardOptions full;
  full.cache = &fullCache;
  full.state = &fullState;
  full.lastLogitsOnly = true;
  const auto start = std::chrono::steady_clock::now();
  TensorMap step = prompt.tensors;
  for (int i = 0; i <= budget; ++i) {
    TensorMap out = m.model->forward(step, options);
    if (i == budget) break;  // the last forward only records the attention of the last token
    const at::Tensor& logits = out.at("logits");  // [T, V]
    const int64_t next = logits[logits.size(0) - 1].argmax().item<int64_t>();
    if (beside) {
      const at::Tensor fullLogits = m.model->forward(step, full).at("logits");  // [1 or T, V]
      const at::Tensor p = at::log_softmax(fullLogits[fullLogits.size(0) - 1].to(at::kDouble), -1);  // [V]
      const at::Tensor q = at::log_softmax(logits[logits.size(0) - 1].to(at::kDouble), -1);          // [V]
      const at::Tensor P = p.exp();                                // [V]
      const at::Tensor terms = (P * (p - q)).masked_fill(P == 0, 0.0);  // [V], 0 · log 0 = 0
      g.stepKl.push_back(terms.sum().item<double>());
      g.fullTop1.push_back(p.argmax().item<int64_t>());
      full.positionOffset = static_cast<int64_t>(g.ids.size());
    }
    options.positionOffset = static_cast<int64_t>(g.ids.size());
    g.ids.push_back(next);
    if (std::find(eos.begin(), eos.end(), next) != eos.end()) {
      budget = i + 1;  // still run the EOS token so its attention row is recorded
    }
    step.clear();
    step[idsName] = longRow({next});  // [1, 1]
  }
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::vector<int64_t> generated(g.ids.begin() + g.promptLength, g.ids.end());
  if (m.tokenizer) {
    g.continuation = m.tokenizer->decode(generated);
    g.text = m.tokenizer->decode(g.ids);
  } else {
    for (int64_t id : g.ids) g.text += (g.text.empty() ? "" : " ") + std::to_string(id);
    for (int64_t id : generated) g.continuation += (g.continuation.empty() ? "" : " ") + std::to_string(id);
  }
  for (int64_t id : g.ids) g.labels.push_back(labelOf(m, id));
  return g;
}

namespace {
nlohmann::json baseMetadata(const LoadedModel& m, const PreparedInput& input, const AttentionCapture& capture,
                            const std::vector<std::string>& labels) {
  const ModelInfo& info = m.model->info();
  std::set<int> layers;
  for (const auto& kv : capture.records()) layers.insert(kv.first.second);
  for (const auto& kv : capture.queryKeys()) layers.insert(kv.first.second);
  nlohmann::json labelMap = nlohmann::json::object();
  for (const auto& stack : info.stacks) {
    auto [q, k] = stackLabels(input, stack);
    if (input.sequenceLabels.empty()) q = k = labels;  // generation: labels grow with the generated ids
    labelMap[stack] = {{"query", q}, {"key", k}};
  }
  nlohmann::json layout = nlohmann::json::object();
  layout["prefix_tokens"] = info.prefixTokens.size();
  if (info.modality == "image" && info.patchSize > 0) {
    int64_t height = info.imageHeight, width = info.imageWidth;  // the input's own size for models that take any
    auto px = input.tensors.find("pixel_values");
    if (px != input.tensors.end() && px->second.dim() >= 3) height = px->second.size(-2), width = px->second.size(-1);
    layout["patch_grid"] = {height / info.patchSize, width / info.patchSize};
  }
  if (info.modality == "audio") {
    layout["seconds_per_position"] = info.secondsPerPosition;
    layout["sample_rate"] = info.sampleRate;
    layout["window_seconds"] = info.windowSeconds;
  }
  return {{"format", "attnscope-capture"},
          {"layout", layout},
          {"version", 1},
          {"model", std::filesystem::absolute(m.dir).string()},
          {"family", info.modelType},
          {"architecture", info.architecture},
          {"modality", info.modality},
          {"device", info.device},
          {"num_layers", info.layers},
          {"num_heads", info.heads},
          {"layers", std::vector<int>(layers.begin(), layers.end())},
          {"heads", capture.heads(info.heads)},
          {"stacks", info.stacks},
          {"tokens", labels},
          {"labels", labelMap},
          {"input", input.description}};
}
}  // namespace

namespace {
/// What a capture holds beyond attention, as tensors and metadata: the learned sinks' share of each row
/// (sink_probs.<l> [heads, q]) and each MoE layer's routing (router.<l> [T, experts] the router's distribution,
/// router_logits.<l>, router_topk.<l> [T, k] the experts chosen, router_weights.<l> [T, k] their mixing weights).
void addStructure(SafetensorsWriter& w, nlohmann::json& meta, const LoadedModel& m, const AttentionCapture& capture) {
  for (const auto& [key, mass] : capture.sinkMass()) w.add(captureTensorName(key.first, key.second, "sink_probs"), mass);
  for (const auto& [key, r] : capture.routing()) {
    w.add(captureTensorName(key.first, key.second, "router"), r.probs);            // [T, E]
    w.add(captureTensorName(key.first, key.second, "router_logits"), r.logits);    // [T, E]
    w.add(captureTensorName(key.first, key.second, "router_topk"), r.chosen);      // [T, k]
    w.add(captureTensorName(key.first, key.second, "router_weights"), r.weights);  // [T, k]
  }
  const ModelInfo& info = m.model->info();
  if (info.attentionSinks) meta["attention_sinks"] = true;
  if (info.experts > 0)
    meta["experts"] = {{"experts", info.experts}, {"per_token", info.expertsPerToken}, {"layers", info.routedLayers}};
}
}  // namespace

void saveCapture(const std::string& path, const LoadedModel& m, const PreparedInput& input, const RunResult& run,
                 LogitsMode logits) {
  SafetensorsWriter w;
  for (const auto& [key, probs] : run.capture->records()) w.add(captureTensorName(key.first, key.second), probs);
  nlohmann::json qkLayers = nlohmann::json::array();
  for (const auto& [key, qk] : run.capture->queryKeys()) {
    const auto& [stack, layer] = key;
    for (const auto& [what, t] : queryKeyTensors(qk)) w.add(captureTensorName(stack, layer, what), t);
    nlohmann::json entry = queryKeyMetadata(qk);
    entry["stack"] = stack;
    entry["layer"] = layer;
    qkLayers.push_back(entry);
  }
  for (const auto& [name, t] : run.outputs) {
    if (name == "logits") {
      if (logits == LogitsMode::None) continue;
      if ((logits == LogitsMode::Last || run.lastLogitsOnly) && m.model->info().head != "classifier") {
        w.add("logits_last", t[t.size(0) - 1]);  // [V]
        continue;
      }
    }
    w.add(name, t);
  }
  for (const auto& [name, t] : input.tensors) w.add(name, t);
  nlohmann::json meta = baseMetadata(m, input, *run.capture, input.labels);
  if (!run.variant.empty()) meta["variant"] = run.variant;
  meta["store"] = qkLayers.empty() ? "probs" : "qk";
  if (!qkLayers.empty()) meta["qk_layers"] = qkLayers;
  meta["prediction"] = run.prediction;
  meta["seconds"] = run.seconds;
  addStructure(w, meta, m, *run.capture);
  w.setMetadata("attnscope", meta.dump());
  w.write(path);
}

nlohmann::json stepKlJson(const LoadedModel& m, const GenerateResult& gen) {
  nlohmann::json steps = nlohmann::json::array();
  for (size_t s = 0; s < gen.stepKl.size(); ++s) {
    const int64_t chosen = gen.ids[static_cast<size_t>(gen.promptLength) + s];
    steps.push_back({{"step", s + 1},
                     {"token", labelOf(m, chosen)},
                     {"kl", gen.stepKl[s]},
                     {"full_top1", labelOf(m, gen.fullTop1[s])},
                     {"agree", gen.fullTop1[s] == chosen}});
  }
  return steps;
}

void saveGeneration(const std::string& path, const LoadedModel& m, const PreparedInput& prompt,
                    const GenerateResult& gen) {
  SafetensorsWriter w;
  for (const auto& [key, probs] : gen.capture->records()) w.add(captureTensorName(key.first, key.second), probs);
  const std::vector<int64_t> generated(gen.ids.begin() + gen.promptLength, gen.ids.end());
  for (const auto& [name, t] : prompt.tensors)
    if (name != "input_ids" && name != "decoder_input_ids") w.add(name, t);
  w.add(m.model->info().encoderDecoder ? "decoder_input_ids" : "input_ids", longRow(gen.ids));  // [1, prompt + generated]
  w.add("generated_ids", longRow(generated));    // [1, generated]
  PreparedInput grown = prompt;  // the decoder sequence grew by the generated tokens
  grown.labels = gen.labels;
  if (grown.sequenceLabels.count("decoder")) grown.sequenceLabels["decoder"] = gen.labels;
  nlohmann::json meta = baseMetadata(m, grown, *gen.capture, gen.labels);
  if (!gen.variant.empty()) meta["variant"] = gen.variant;
  if (!gen.stepKl.empty()) meta["variant_kl"] = stepKlJson(m, gen);
  meta["prompt_length"] = gen.promptLength;
  meta["generated_text"] = gen.continuation;
  meta["seconds"] = gen.seconds;
  addStructure(w, meta, m, *gen.capture);
  w.setMetadata("attnscope", meta.dump());
  w.write(path);
}

}  // namespace attnscope
