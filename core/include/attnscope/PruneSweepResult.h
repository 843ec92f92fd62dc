#pragma once
/// \file PruneSweepResult.h
/// The pruning sweep's options and result as plain types (no LibTorch), so the GUI can hold them.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

}  // namespace attnscope
