#pragma once
/// \file Compare.h
/// The comparison engine: runs one model on one input under several attention variants and measures,
/// against the `full` baseline, what each changes (per head, per layer, for the model's prediction) and what
/// it costs (time, analytic FLOPs and attention memory, measured peak memory).

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnscope/Engine.h"
#include "attnscope/Variant.h"

namespace attnscope {

/// Jensen–Shannon divergence (natural log, in [0, ln 2]) between matching rows of \p p and \p q
/// ([..., k] → [...]). A row of \p q that sums to 0 (a pruned head) counts as maximally different: ln 2.
at::Tensor jsDivergenceRows(const at::Tensor& p, const at::Tensor& q);
/// KL(p‖q) per row, with q floored at \p floor so that keys a sparse variant drops give a finite, large value.
at::Tensor klDivergenceRows(const at::Tensor& p, const at::Tensor& q, double floor = 1e-12);
/// |top-k(p) ∩ top-k(q)| / k per row (k = min(k, keys)); 0 for rows of q that sum to 0.
at::Tensor topkOverlapRows(const at::Tensor& p, const at::Tensor& q, int64_t k = 5);
/// The L2 attention regulariser ‖A‖²_F / 2 of a matrix (any shape).
double l2Regularizer(const at::Tensor& a);
/// Cosine similarity of two tensors, flattened (1 when both are zero, 0 when only one is).
double cosineSimilarity(const at::Tensor& a, const at::Tensor& b);
/// ‖a − b‖ / ‖b‖ (0 when both are zero).
double relativeL2(const at::Tensor& a, const at::Tensor& b);

struct CompareOptions {
  int repeats = 3;  ///< timed forwards per variant (the median is reported)
};

/// One variant's run: the recorded run (capture, head and layer outputs) and its measured cost.
struct VariantOutcome {
  std::string spec;
  RunResult run;
  std::vector<double> seconds;  ///< wall time of each timed forward (no capture)
  AttentionCost cost;           ///< analytic, summed over every attention call
  int64_t peakBytes = -1;       ///< peak tensor memory above the start of a forward (CPU; -1 = not measured)
  nlohmann::json details;       ///< what the variant decided (e.g. pruned heads)
};

struct Comparison {
  nlohmann::json report;                 ///< the report.json document (schema in the README)
  std::vector<VariantOutcome> outcomes;  ///< outcomes[0] is the `full` baseline
};

/// Runs \p specs (the `full` baseline is always run first, once) and builds the report.
/// Every spec is parsed before anything runs, so a bad spec fails fast with InputError.
Comparison compareVariants(LoadedModel& model, const PreparedInput& input, const std::vector<std::string>& specs,
                           const CompareOptions& options = {}, RunControl* control = nullptr);

}  // namespace attnscope
