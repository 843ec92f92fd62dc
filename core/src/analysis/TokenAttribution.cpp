#include "attnscope/TokenAttribution.h"

#include <ATen/ops/tensor.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "attnscope/Analysis.h"
#include "attnscope/AttentionCapture.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/GradientAttention.h"
#include "attnscope/InformationFlowGraph.h"
#include "attnscope/ValueZeroing.h"

namespace attnscope {

std::vector<std::string> tokenAttributionMethods() { return {"rollout", "flow", "alti", "value-zeroing", "grad-attn"}; }

namespace {
/// A non-negative position within \p T, from an explicit one (negative counts from the end).
int64_t resolve(int64_t given, int64_t T) {
  const int64_t position = given < 0 ? given + T : given;
  if (position < 0 || position >= T)
    throw InputError("position " + std::to_string(given) + " is outside the input (0.." + std::to_string(T - 1) + ")");
  return position;
}
}  // namespace

TokenAttribution tokenAttribution(LoadedModel& m, const PreparedInput& input, const std::string& method,
                                  std::optional<int64_t> position, const std::string& target,
                                  const AttentionVariant* variant) {
  const std::vector<std::string> known = tokenAttributionMethods();
  if (std::find(known.begin(), known.end(), method) == known.end())
    throw InputError("unknown attribution method '" + method +
                     "' (known: rollout, flow, alti, value-zeroing, grad-attn)");
  const ModelInfo& info = m.model->info();
  TokenAttribution a;
  a.method = method;
  a.model = info.modelType;
  a.stack = "self";
  if (method == "grad-attn") {
    const GradientAttention g = gradientAttention(m, input, position.value_or(-1), target, variant);
    a.stack = g.stack;
    a.position = g.position;
    a.decoderScores = g.decoderScores;
    a.scores = g.scores;
    a.hasTarget = true;
    a.targetId = g.targetId;
    a.target = g.targetLabel;
    a.predicted = g.predicted;
    a.logit = g.logit;
    a.layers = g.layers;
    if (variant) a.variant = variant->spec();
  } else if (method == "alti" || method == "value-zeroing") {
    a.stack = m.model->inputStack();
    const int64_t asked = position.value_or(-1);
    a.scores = method == "alti" ? altiAttribution(m, input, asked) : valueZeroingAttribution(m, input, asked);
    const int64_t T = static_cast<int64_t>(a.scores.size());
    a.position = !position && !info.causal ? 0 : resolve(asked, T);
  } else {
    const RunResult r = runModel(m, input);
    std::vector<at::Tensor> layers;
    for (const std::string candidate : {"self", "encoder"}) {
      for (const auto& [key, probs] : r.capture->records())
        if (key.first == candidate) layers.push_back(probs);  // [heads, T, T], layers in order (std::map)
      if (!layers.empty()) {
        a.stack = candidate;
        break;
      }
    }
    if (layers.empty()) throw InputError(method + " needs self-attention; the capture has none");
    const int64_t T = layers.front().size(-1);
    // Default query: the last position of a causal model (its next-token prediction), else the first ([CLS]).
    a.position = resolve(position.value_or(info.causal ? -1 : 0), T);
    const at::Tensor scores = method == "flow"
                                  ? attentionFlow(layers, a.position)
                                  : attentionRollout(layers)[a.position].to(at::kDouble).contiguous();  // [T]
    a.scores.assign(scores.data_ptr<double>(), scores.data_ptr<double>() + T);
  }
  const auto named = [&](const std::string& stack, size_t n) {
    std::vector<std::string> labels = stackLabels(input, stack).first;
    for (size_t j = labels.size(); j < n; ++j) labels.push_back(std::to_string(j));
    labels.resize(n);
    return labels;
  };
  a.labels = named(a.stack, a.scores.size());
  if (a.decoderScores.empty()) {
    a.positionStack = a.stack;
    a.highlight = a.position;
    a.positionToken = a.labels.at(static_cast<size_t>(a.position));
  } else {  // an encoder–decoder's grad-attn: the scored position is the decoder's
    a.positionStack = "decoder";
    a.highlight = -1;
    a.decoderLabels = named("decoder", a.decoderScores.size());
    a.positionToken = a.decoderLabels.at(static_cast<size_t>(a.position));
  }
  return a;
}

nlohmann::json toJson(const TokenAttribution& a) {
  const auto list = [](const std::vector<std::string>& labels, const std::vector<double>& values) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t j = 0; j < values.size(); ++j)
      out.push_back({{"position", j}, {"token", labels[j]}, {"value", values[j]}});
    return out;
  };
  nlohmann::json doc = {{"method", a.method},
                        {"model", a.model},
                        {"stack", a.stack},
                        {"position", a.position},
                        {"position_stack", a.positionStack},
                        {"token", a.positionToken},
                        {"scores", list(a.labels, a.scores)}};
  if (!a.decoderScores.empty()) doc["decoder_scores"] = list(a.decoderLabels, a.decoderScores);
  if (a.hasTarget) {
    doc["target_id"] = a.targetId;
    doc["target"] = a.target;
    doc["predicted"] = a.predicted;
    doc["logit"] = a.logit;
    doc["layers"] = a.layers;
    doc["variant"] = a.variant;
  }
  return doc;
}

}  // namespace attnscope
