#include "attnscope/DeletionCurve.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/tensor.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
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

/// The target's probability at the last position of \p ids under \p variant.
double targetProbability(LoadedModel& m, const std::vector<int64_t>& ids, int64_t target,
                         const AttentionVariant* variant) {
  c10::InferenceMode guard;
  TensorMap inputs;
  inputs["input_ids"] = at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())});  // [1, T']
  ForwardOptions options;
  options.variant = variant;
  options.lastLogitsOnly = true;
  const at::Tensor logits = m.model->forward(inputs, options).at("logits");  // [1 or T', V]
  return at::softmax(logits[logits.size(0) - 1].to(at::kCPU, at::kDouble), 0)[target].item<double>();
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

DeletionResult deletionCurves(LoadedModel& m, const PreparedInput& input,
                              const std::vector<std::string>& methods, const std::string& target, int steps,
                              uint64_t seed) {
  const ModelInfo& info = m.model->info();
  if (!info.causal || !input.tensors.count("input_ids"))
    throw InputError("deletion curves remove input tokens of a causal language model; this " +
                     info.modelType + " model (" + info.modality + ") is not one");
  if (steps < 1 || steps > 100)
    throw InputError("steps must be in 1..100 (got " + std::to_string(steps) + ")");
  const std::vector<std::string> known = deletionMethods();
  for (const std::string& method : methods)
    if (std::find(known.begin(), known.end(), method) == known.end())
      throw InputError("unknown deletion method '" + method +
                       "' (known: rollout, flow, attention, alti, value-zeroing, grad-attn, random, dla, random-heads)");
  if (methods.empty()) throw InputError("no deletion method given");
  const at::Tensor idsTensor =
      input.tensors.at("input_ids").reshape({-1}).to(at::kCPU, at::kLong).contiguous();
  const std::vector<int64_t> ids(idsTensor.data_ptr<int64_t>(),
                                 idsTensor.data_ptr<int64_t>() + idsTensor.numel());
  const int64_t T = static_cast<int64_t>(ids.size());
  const auto label = [&](int64_t j) {
    return std::to_string(j) + ": '" +
           (j < static_cast<int64_t>(input.labels.size()) ? input.labels[static_cast<size_t>(j)]
                                                          : std::string()) +
           "'";
  };

  DeletionResult r;
  r.model = info.modelType;
  r.position = T - 1;
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
  r.probability = targetProbability(m, ids, r.targetId, nullptr);
  std::vector<int64_t> removable;
  for (int64_t j = 0; j + 1 < T; ++j)
    if (!(m.tokenizer && m.tokenizer->isSpecial(ids[static_cast<size_t>(j)]))) removable.push_back(j);
  r.removable = static_cast<int>(removable.size());

  // Attention of every layer, for the rankings that read it.
  std::vector<at::Tensor> layers;
  if (std::any_of(methods.begin(), methods.end(),
                  [](const std::string& x) { return x == "rollout" || x == "flow" || x == "attention"; })) {
    const RunResult run = runModel(m, input);
    for (const auto& [key, probs] : run.capture->records())
      if (key.first == "self") layers.push_back(probs);  // [heads, T, T], in layer order
    if (layers.empty()) throw InputError("the model recorded no self-attention to rank tokens by");
  }
  std::mt19937_64 random(seed);
  for (const std::string& method : methods) {
    DeletionCurve c;
    c.method = method;
    c.unit = isTokenMethod(method) ? "tokens" : "heads";
    if (isTokenMethod(method)) {
      std::vector<int64_t> order = removable;
      if (method == "random") {
        std::shuffle(order.begin(), order.end(), random);
      } else {
        at::Tensor scores;  // [T]: how much the last position draws on each position
        if (method == "alti")
          scores = at::tensor(altiAttribution(m, input, T - 1), at::kDouble);
        else if (method == "grad-attn")
          scores = at::tensor(gradientAttention(m, input, T - 1, "#" + std::to_string(r.targetId)).scores,
                              at::kDouble);
        else if (method == "value-zeroing")
          scores = at::tensor(valueZeroingAttribution(m, input, T - 1), at::kDouble);
        else if (method == "rollout")
          scores = attentionRollout(layers)[T - 1].to(at::kDouble);
        else if (method == "flow")
          scores = attentionFlow(layers, T - 1);
        else
          scores = layers.back().to(at::kDouble).mean(0)[T - 1];
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
        std::vector<int64_t> kept;
        for (int64_t j = 0; j < T; ++j)
          if (!gone[static_cast<size_t>(j)]) kept.push_back(ids[static_cast<size_t>(j)]);
        c.fractions.push_back(static_cast<double>(k) / steps);
        c.probabilities.push_back(n == 0 ? r.probability : targetProbability(m, kept, r.targetId, nullptr));
      }
    } else {
      std::vector<std::string> heads;
      if (method == "dla") {
        const DirectLogitAttribution dla =
            directLogitAttribution(m, input, -1, "#" + std::to_string(r.targetId));
        std::vector<std::pair<double, std::string>> parts;
        for (size_t l = 0; l < dla.heads.size(); ++l)
          for (size_t h = 0; h < dla.heads[l].size(); ++h)
            parts.emplace_back(dla.heads[l][h], "L" + std::to_string(l) + "H" + std::to_string(h));
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
        c.probabilities.push_back(targetProbability(m, ids, r.targetId, variant.get()));
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
  return {{"method", "deletion"}, {"model", r.model},   {"position", r.position},   {"target_id", r.targetId},
          {"target", r.target},   {"p", r.probability}, {"removable", r.removable}, {"curves", curves}};
}

}  // namespace attnscope
