#pragma once
/// \file PruneSweep.h
/// The pruning sweep (Michel et al. 2019, fig. 2): prune 0 … 90 % of a model's heads in one order (least
/// important first, most diffuse first, or random) and measure how far the output drifts from the full model
/// at each step. Heads pruned at a lower ratio are always a subset of those pruned at a higher one.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnscope/Engine.h"

namespace attnscope {

struct PruneSweepOptions {
  std::vector<double> ratios = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};  ///< each in [0, 1]
  std::string order = "importance";  ///< importance (|∂L/∂ξ|, least first), entropy (most diffuse first), random
  uint64_t seed = 0;                 ///< for order = random
  int repeats = 1;                   ///< timed forwards per point (the median is reported)
};

/// One point of the sweep.
struct PruneSweepPoint {
  double ratio = 0;
  std::vector<std::string> pruned;  ///< "L3H2", … (round(ratio × total heads) of them)
  double logitsKl = 0;              ///< mean KL(full ‖ pruned) of the output distribution; NaN without logits
  double top1Agreement = 1;         ///< share of positions whose argmax is unchanged; NaN without logits
  double jsMean = 0;                ///< mean JS divergence of every captured head's attention from full
  double ms = 0;                    ///< median forward time
};

struct PruneSweepResult {
  std::string order;
  uint64_t seed = 0;
  int totalHeads = 0;
  std::vector<std::string> ranking;  ///< every head, in the order they are pruned
  std::vector<PruneSweepPoint> points;
  /// `{model, order, seed, total_heads, ranking, points: [{ratio, pruned, logits_kl, top1_agreement, js_mean, ms}]}`
  nlohmann::json toJson(const std::string& model) const;
};

/// Every head of \p model in the order \p order prunes them; throws InputError for an unknown order or an
/// importance order on a model without an objective.
std::vector<std::string> headPruneOrder(LoadedModel& model, const PreparedInput& input, const std::string& order,
                                        uint64_t seed);

/// Parses "0,0.1,0.25" into ratios; throws InputError naming the bad item (each must be in [0, 1]).
std::vector<double> parseRatios(const std::string& list);

/// Runs the sweep: one full forward and one pruned forward per ratio.
PruneSweepResult pruneSweep(LoadedModel& model, const PreparedInput& input, const PruneSweepOptions& options,
                            RunControl* control = nullptr);

}  // namespace attnscope
