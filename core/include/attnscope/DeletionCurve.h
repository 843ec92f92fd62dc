#pragma once
/// \file DeletionCurve.h
/// Faithfulness by deletion: remove the input tokens (or the attention heads) in the order an attribution
/// ranks them, most important first, and follow the probability of the target token at the last position; a
/// method whose curve falls fastest (smallest area under it) ranks what the prediction really depends on. For
/// causal language models. Plain types only (no torch header).

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace attnscope {

struct LoadedModel;
struct PreparedInput;

/// One method's curve.
struct DeletionCurve {
  std::string method;
  std::string unit;                   ///< "tokens" or "heads"
  std::vector<double> fractions;      ///< of the removable tokens / of all heads, from 0 to 1
  std::vector<double> probabilities;  ///< the target's probability after removing that fraction
  double auc = 0;                     ///< area under the curve (trapezoids over the fractions)
  std::vector<std::string> order;     ///< what was removed, first first ("12: ' named'", "L3H2")
};

/// Every method's curve for one input.
struct DeletionResult {
  std::string model;
  int64_t position = 0;  ///< the scored position: the last
  int64_t targetId = 0;
  std::string target;
  double probability = 0;  ///< the target's probability with nothing removed
  int removable = 0;       ///< tokens that can be removed: all but the last position and the special tokens
  std::vector<DeletionCurve> curves;
};

/// The methods deletionCurves() takes: token rankings "rollout", "flow" (attention flow), "attention" (the
/// last layer's mean attention of the last position), "alti" (pre-norm models), "value-zeroing", "grad-attn" (gradient × attention of the target),
/// "random"; head rankings "dla" (direct logit
/// attribution, the most positive heads first, removed with the prune variant) and "random-heads".
std::vector<std::string> deletionMethods();

/// Deletion curves of \p input for \p methods at \p steps + 1 evenly spaced fractions. \p target: a token or
/// #ID
/// ("" = the token the model predicts at the last position). Tokens are removed from the sequence (the rest
/// keep their order); the last position and special tokens (BOS) are never removed. \p seed fixes the random
/// orders. Throws InputError for an unknown method, a model that is not a causal language model with token
/// inputs, or steps outside 1..100.
DeletionResult deletionCurves(LoadedModel& m, const PreparedInput& input,
                              const std::vector<std::string>& methods, const std::string& target = "",
                              int steps = 10, uint64_t seed = 0);

/// The CLI's curve.json: {"method": "deletion", "model", "position", "target_id", "target", "p", "removable",
/// "curves": [{"method", "unit", "fractions", "probabilities", "auc", "order"}]}.
nlohmann::json toJson(const DeletionResult& result);

}  // namespace attnscope
