#include "attnscope/DeletionCurve.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/tensor.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "attnscope/Analysis.h"
#include "attnscope/AttentionCapture.h"
#include "attnscope/DirectLogitAttribution.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/InformationFlowGraph.h"
#include "attnscope/GradientAttention.h"
#include "attnscope/LogitLens.h"
#include "attnscope/Tokenizer.h"
#include "attnscope/ValueZeroing.h"
#include "attnscope/Variant.h"

namespace attnscope {

namespace {
bool isTokenMethod(const std::string& m) {
  return m == "rollout" || m == "flow" || m == "attention" || m == "alti" || m == "value-zeroing" ||
         m == "grad-attn" || m == "random";
}

/// What deletion removes and measures for one kind of model.
struct Subject {
  int64_t position = 0;            ///< the scored position (the decoder's last for encoder–decoder models)
  bool seq2seq = false;            ///< an encoder–decoder model: positions are removed from its encoder's input
  std::vector<std::string> labels;  ///< labels of the sequence positions are removed from
  std::vector<int64_t> removable;  ///< positions that can be removed
  std::string unit;                ///< "tokens", "patches" or "frames"
  bool classifier = false;         ///< the target is a class (else a token at the last position)
  /// The model's inputs with the positions marked in gone removed: tokens dropped from the sequence, patches
  /// blanked to 0 (the normalised mean colour), frames silenced.
  std::function<TensorMap(const std::vector<bool>& gone)> without;
};

/// Drops the positions marked in \p gone from every [1, T] tensor of \p inputs (ids, types, mask) but the decoder's.
TensorMap dropTokens(const TensorMap& inputs, int64_t T, const std::vector<bool>& gone) {
  std::vector<int64_t> kept;
  for (int64_t j = 0; j < T; ++j)
    if (!gone[static_cast<size_t>(j)]) kept.push_back(j);
  const at::Tensor index = at::tensor(kept, at::kLong);  // [T']
  TensorMap out;
  for (const auto& [name, t] : inputs)
    out[name] = name.rfind("decoder_", 0) != 0 && t.dim() == 2 && t.size(0) == 1 && t.size(1) == T
                    ? t.index_select(1, index.to(t.device()))  // [1, T']
                    : t;
  return out;
}

/// Encoder–decoder models: the target is the decoder's prediction at its last position; the encoder's source
/// tokens are dropped (special ones never are), or its audio frames silenced — their log-mel columns set to the
/// features' floor, which is what the model's feature extractor makes of silence.
Subject seq2seqSubject(const LoadedModel& m, const PreparedInput& input,
                       const std::function<InputError(const std::string&)>& refuse) {
  Subject s;
  s.seq2seq = true;
  s.position = static_cast<int64_t>(input.labels.size()) - 1;
  s.labels = stackLabels(input, "encoder").first;
  const int64_t S = static_cast<int64_t>(s.labels.size());
  if (S == 0 || s.position < 0) throw refuse("has no encoder or decoder positions");
  const auto ids = input.tensors.find("input_ids");
  if (ids != input.tensors.end()) {
    const at::Tensor flat = ids->second.reshape({-1}).to(at::kCPU, at::kLong).contiguous();  // [S]
    if (flat.numel() != S) throw refuse("gave " + std::to_string(flat.numel()) + " ids for " + std::to_string(S) + " labels");
    s.unit = "tokens";
    for (int64_t j = 0; j < S; ++j)
      if (!(m.tokenizer && m.tokenizer->isSpecial(flat[j].item<int64_t>()))) s.removable.push_back(j);
    const TensorMap inputs = input.tensors;
    s.without = [inputs, S](const std::vector<bool>& gone) { return dropTokens(inputs, S, gone); };
    return s;
  }
  const auto features = input.tensors.find("input_features");
  if (features == input.tensors.end() || features->second.dim() != 3 || features->second.size(-1) % S != 0)
    throw refuse("has inputs deletion cannot remove positions from");
  s.unit = "frames";
  for (int64_t j = 0; j < S; ++j) s.removable.push_back(j);
  const TensorMap inputs = input.tensors;
  const at::Tensor f = features->second;                 // [1, mels, frames]
  const int64_t columns = f.size(-1) / S;                 // feature frames per encoder position
  const double floor = f.min().item<double>();
  s.without = [inputs, f, columns, floor](const std::vector<bool>& gone) {
    at::Tensor quiet = f.clone();  // [1, mels, frames]
    for (size_t j = 0; j < gone.size(); ++j)
      if (gone[j]) quiet.narrow(-1, static_cast<int64_t>(j) * columns, columns).fill_(floor);
    TensorMap out = inputs;
    out["input_features"] = quiet;
    return out;
  };
  return s;
}

Subject subjectOf(const LoadedModel& m, const PreparedInput& input) {
  const ModelInfo& info = m.model->info();
  const bool classifier = info.head == "classifier" && !info.encoderDecoder;
  const int64_t T = static_cast<int64_t>(input.labels.size());
  const std::function<InputError(const std::string&)> refuse = [&](const std::string& why) {
    return InputError("deletion curves need a causal language model, an encoder–decoder model or a classifier "
                      "(text, image or audio); this " + info.modelType + " model (" + info.modality + ", " +
                      info.head + " head) " + why);
  };
  if (info.encoderDecoder) return seq2seqSubject(m, input, refuse);
  Subject s;
  s.classifier = classifier;
  s.labels = input.labels;
  const auto ids = input.tensors.find("input_ids");
  if (ids != input.tensors.end()) {
    if (!info.causal && !classifier) throw refuse("is neither");
    const at::Tensor flat = ids->second.reshape({-1}).to(at::kCPU, at::kLong).contiguous();  // [T]
    if (flat.numel() != T) throw refuse("gave " + std::to_string(flat.numel()) + " ids for " + std::to_string(T) + " labels");
    s.position = classifier ? 0 : T - 1;
    s.unit = "tokens";
    for (int64_t j = 0; j < T; ++j)
      if ((classifier || j + 1 < T) && !(m.tokenizer && m.tokenizer->isSpecial(flat[j].item<int64_t>())))
        s.removable.push_back(j);
    const TensorMap inputs = input.tensors;
    s.without = [inputs, T](const std::vector<bool>& gone) { return dropTokens(inputs, T, gone); };
    return s;
  }
  if (!classifier) throw refuse("is neither");
  const int64_t prefix = static_cast<int64_t>(info.prefixTokens.size());
  for (int64_t j = prefix; j < T; ++j) s.removable.push_back(j);
  const auto pixels = input.tensors.find("pixel_values");
  if (pixels != input.tensors.end() && info.patchSize > 0) {
    s.unit = "patches";
    const at::Tensor px = pixels->second;  // [1, C, H, W]
    const int64_t p = info.patchSize, columns = px.size(-1) / p;
    s.without = [px, p, columns, prefix](const std::vector<bool>& gone) {
      at::Tensor blank = px.clone();  // [1, C, H, W]
      for (size_t j = static_cast<size_t>(prefix); j < gone.size(); ++j)
        if (gone[j]) {
          const int64_t n = static_cast<int64_t>(j) - prefix, r = n / columns, c = n % columns;
          blank.narrow(-2, r * p, p).narrow(-1, c * p, p).zero_();
        }
      return TensorMap{{"pixel_values", blank}};
    };
    return s;
  }
  const auto features = input.tensors.find("input_features");
  const auto wave = input.tensors.find("input_values");
  if (features != input.tensors.end() && features->second.dim() == 2 && features->second.size(0) == T - prefix) {
    s.unit = "frames";
    const at::Tensor f = features->second;  // [frames, dims]
    s.without = [f, prefix](const std::vector<bool>& gone) {
      at::Tensor blank = f.clone();  // [frames, dims]
      for (size_t j = static_cast<size_t>(prefix); j < gone.size(); ++j)
        if (gone[j]) blank[static_cast<int64_t>(j) - prefix].zero_();
      return TensorMap{{"input_features", blank}};
    };
    return s;
  }
  if (wave != input.tensors.end() && info.secondsPerPosition > 0 && info.sampleRate > 0) {
    s.unit = "frames";
    const at::Tensor w = wave->second;  // [1, samples]
    const double perFrame = info.secondsPerPosition * info.sampleRate;
    s.without = [w, prefix, perFrame](const std::vector<bool>& gone) {
      at::Tensor blank = w.clone();  // [1, samples]
      const int64_t n = blank.size(-1);
      for (size_t j = static_cast<size_t>(prefix); j < gone.size(); ++j)
        if (gone[j]) {  // silence the frame's own stretch (its hop)
          const int64_t f = static_cast<int64_t>(j) - prefix;
          const int64_t a = std::min(n, static_cast<int64_t>(std::llround(f * perFrame)));
          const int64_t b = std::min(n, static_cast<int64_t>(std::llround((f + 1) * perFrame)));
          if (b > a) blank.narrow(-1, a, b - a).zero_();
        }
      return TensorMap{{"input_values", blank}};
    };
    return s;
  }
  throw refuse("has inputs deletion cannot remove positions from");
}

/// The target's probability under \p variant: the class's (classifiers) or the token's at the last position.
double targetProbability(LoadedModel& m, const TensorMap& inputs, const Subject& s, int64_t target,
                         const AttentionVariant* variant) {
  c10::InferenceMode guard;
  ForwardOptions options;
  options.variant = variant;
  options.lastLogitsOnly = !s.classifier && !s.seq2seq;
  const at::Tensor logits = m.model->forward(inputs, options).at("logits");  // [labels] or [1 or T', V]
  const at::Tensor row = s.classifier ? logits.flatten()
                         : s.seq2seq  ? logits[s.position]
                                      : logits[logits.size(0) - 1];  // [labels] or [V]
  return at::softmax(row.to(at::kCPU, at::kDouble), 0)[target].item<double>();
}

double area(const std::vector<double>& x, const std::vector<double>& y) {
  double a = 0;
  for (size_t i = 1; i < x.size(); ++i) a += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return a;
}
}  // namespace

std::vector<std::string> deletionMethods() {
  return {"rollout", "flow", "attention", "alti", "value-zeroing", "grad-attn", "random", "dla", "random-heads"};
}

std::vector<std::string> deletionMethods(const LoadedModel& m) {
  const ModelInfo& info = m.model->info();
  const bool classifier = info.head == "classifier" && !info.encoderDecoder;
  const bool languageModel = info.causal;
  if (!classifier && !languageModel && !(info.encoderDecoder && info.head != "none")) return {};
  std::vector<std::string> out;
  for (const std::string& method : deletionMethods()) {
    if (info.encoderDecoder && method != "attention" && method != "grad-attn" && method != "random" &&
        method != "random-heads" && method != "dla")
      continue;
    if (method == "dla" && (classifier || !m.model->hasDirectAttribution())) continue;
    if ((method == "alti" || method == "value-zeroing") && m.model->residualForm() == ResidualForm::None) continue;
    out.push_back(method);
  }
  return out;
}

DeletionResult deletionCurves(LoadedModel& m, const PreparedInput& input,
                              const std::vector<std::string>& methods, const std::string& target, int steps,
                              uint64_t seed) {
  const ModelInfo& info = m.model->info();
  if (steps < 1 || steps > 100)
    throw InputError("steps must be in 1..100 (got " + std::to_string(steps) + ")");
  const std::vector<std::string> known = deletionMethods();
  for (const std::string& method : methods)
    if (std::find(known.begin(), known.end(), method) == known.end())
      throw InputError("unknown deletion method '" + method +
                       "' (known: rollout, flow, attention, alti, value-zeroing, grad-attn, random, dla, random-heads)");
  if (methods.empty()) throw InputError("no deletion method given");
  const Subject subject = subjectOf(m, input);
  const auto asked = [&](const char* method) { return std::find(methods.begin(), methods.end(), method) != methods.end(); };
  if (subject.classifier && asked("dla"))
    throw InputError("dla ranks heads by direct logit attribution, which needs a language model's token head; "
                     "this " + info.modelType + " model is a classifier (use random-heads)");
  if (subject.seq2seq)
    for (const char* method : {"rollout", "flow", "alti", "value-zeroing"})
      if (asked(method))
        throw InputError(std::string(method) + " follows the encoder's self-attention from an encoder position" +
                         "; the target of this encoder–decoder " + info.modelType +
                         " model is the decoder's token: rank its encoder's " + subject.unit +
                         " by attention (the last layer's cross-attention), grad-attn or random, or heads by "
                         "random-heads" + (m.model->hasDirectAttribution() ? " or dla" : ""));
  const int64_t T = static_cast<int64_t>(subject.labels.size());
  const int64_t P = subject.position;
  const auto label = [&](int64_t j) { return std::to_string(j) + ": '" + subject.labels[static_cast<size_t>(j)] + "'"; };

  DeletionResult r;
  r.model = info.modelType;
  r.position = P;
  r.unit = subject.unit;
  r.classTarget = subject.classifier;
  r.positionStack = subject.seq2seq ? "decoder" : "self";
  if (subject.classifier) {
    c10::InferenceMode guard;
    const at::Tensor logits = m.model->forward(input.tensors, ForwardOptions()).at("logits").flatten();  // [labels]
    r.targetId = classTargetId(info, logits.size(0), target);
    if (r.targetId < 0) r.targetId = logits.argmax().item<int64_t>();
    r.target = r.targetId < static_cast<int64_t>(info.labels.size()) ? info.labels[static_cast<size_t>(r.targetId)]
                                                                      : std::to_string(r.targetId);
  } else {
    if (!target.empty()) {
      r.targetId = lensTargetId(m, target);
    } else {
      c10::InferenceMode guard;
      ForwardOptions options;
      options.lastLogitsOnly = true;
      const at::Tensor logits = m.model->forward(input.tensors, options).at("logits");  // [1, V]
      r.targetId = logits[logits.size(0) - 1].argmax().item<int64_t>();
    }
    r.target = m.tokenizer ? m.tokenizer->displayLabel(r.targetId) : std::to_string(r.targetId);
  }
  r.probability = targetProbability(m, input.tensors, subject, r.targetId, nullptr);
  r.removable = static_cast<int>(subject.removable.size());
  const std::string targetSpec = "#" + std::to_string(r.targetId);

  // Attention of every layer, for the rankings that read it.
  std::vector<at::Tensor> layers;
  if (std::any_of(methods.begin(), methods.end(),
                  [](const std::string& x) { return x == "rollout" || x == "flow" || x == "attention"; })) {
    const RunResult run = runModel(m, input);
    const std::string stack = subject.seq2seq ? "cross" : "self";
    for (const auto& [key, probs] : run.capture->records())
      if (key.first == stack) layers.push_back(probs);  // [heads, T, T] ([heads, decoder, encoder]), in layer order
    if (layers.empty()) throw InputError("the model recorded no " + stack + "-attention to rank tokens by");
  }
  std::mt19937_64 random(seed);
  for (const std::string& method : methods) {
    DeletionCurve c;
    c.method = method;
    c.unit = isTokenMethod(method) ? subject.unit : "heads";
    if (isTokenMethod(method)) {
      std::vector<int64_t> order = subject.removable;
      if (method == "random") {
        std::shuffle(order.begin(), order.end(), random);
      } else {
        at::Tensor scores;  // [T]: how much the scored position draws on each position
        if (method == "alti")
          scores = at::tensor(altiAttribution(m, input, P), at::kDouble);
        else if (method == "grad-attn")
          scores = at::tensor(gradientAttention(m, input, P, targetSpec).scores, at::kDouble);
        else if (method == "value-zeroing")
          scores = at::tensor(valueZeroingAttribution(m, input, P), at::kDouble);
        else if (method == "rollout")
          scores = attentionRollout(layers)[P].to(at::kDouble);
        else if (method == "flow")
          scores = attentionFlow(layers, P);
        else
          scores = layers.back().to(at::kDouble).mean(0)[P];
        scores = scores.contiguous();
        const double* s = scores.data_ptr<double>();
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
      }
      for (int64_t j : order) c.order.push_back(label(j));
      for (int k = 0; k <= steps; ++k) {
        const size_t n = static_cast<size_t>(
            std::lround(static_cast<double>(k) / steps * static_cast<double>(order.size())));
        std::vector<bool> gone(static_cast<size_t>(T), false);
        for (size_t i = 0; i < n; ++i) gone[static_cast<size_t>(order[i])] = true;
        c.fractions.push_back(static_cast<double>(k) / steps);
        c.probabilities.push_back(
            n == 0 ? r.probability : targetProbability(m, subject.without(gone), subject, r.targetId, nullptr));
      }
    } else {
      std::vector<std::string> heads;
      if (method == "dla") {
        const DirectLogitAttribution dla =
            directLogitAttribution(m, input, -1, targetSpec);
        // Decoder-only models: LxHy (their one stack); encoder–decoder models: the decoder's own heads and its
        // cross-attention heads, each pruned in its stack only.
        std::vector<std::pair<double, std::string>> parts;
        const std::string own = dla.stack == "self" ? "" : dla.stack + ".";
        for (size_t l = 0; l < dla.heads.size(); ++l) {
          for (size_t h = 0; h < dla.heads[l].size(); ++h)
            parts.emplace_back(dla.heads[l][h], own + "L" + std::to_string(l) + "H" + std::to_string(h));
          if (l < dla.crossHeads.size())
            for (size_t h = 0; h < dla.crossHeads[l].size(); ++h)
              parts.emplace_back(dla.crossHeads[l][h], "cross.L" + std::to_string(l) + "H" + std::to_string(h));
        }
        std::stable_sort(parts.begin(), parts.end(),
                         [](const auto& a, const auto& b) { return a.first > b.first; });
        for (const auto& p : parts) heads.push_back(p.second);
      } else {
        for (int l = 0; l < info.layers; ++l)
          for (int h = 0; h < info.heads; ++h)
            heads.push_back("L" + std::to_string(l) + "H" + std::to_string(h));
        std::shuffle(heads.begin(), heads.end(), random);
      }
      c.order = heads;
      for (int k = 0; k <= steps; ++k) {
        const size_t n = static_cast<size_t>(
            std::lround(static_cast<double>(k) / steps * static_cast<double>(heads.size())));
        c.fractions.push_back(static_cast<double>(k) / steps);
        if (n == 0) {
          c.probabilities.push_back(r.probability);
          continue;
        }
        std::string spec = "prune:heads=";
        for (size_t i = 0; i < n; ++i) spec += (i ? "," : "") + heads[i];
        auto variant = makeVariant(spec);
        variant->prepare(m, input);
        c.probabilities.push_back(targetProbability(m, input.tensors, subject, r.targetId, variant.get()));
      }
    }
    c.auc = area(c.fractions, c.probabilities);
    r.curves.push_back(std::move(c));
  }
  return r;
}

nlohmann::json toJson(const DeletionResult& r) {
  nlohmann::json curves = nlohmann::json::array();
  for (const DeletionCurve& c : r.curves)
    curves.push_back({{"method", c.method},
                      {"unit", c.unit},
                      {"fractions", c.fractions},
                      {"probabilities", c.probabilities},
                      {"auc", c.auc},
                      {"order", c.order}});
  return {{"method", "deletion"}, {"model", r.model},   {"position", r.position},
          {"position_stack", r.positionStack},       {"target_id", r.targetId},
          {"target", r.target},   {"target_kind", r.classTarget ? "class" : "token"},
          {"p", r.probability}, {"unit", r.unit},           {"removable", r.removable},
          {"curves", curves}};
}

}  // namespace attnscope
