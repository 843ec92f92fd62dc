#pragma once
/// \file PruneSweep.h
/// The pruning sweep (Michel et al. 2019, fig. 2): prune 0 … 90 % of a model's heads in one order (least
/// important first, most diffuse first, or random) and measure how far the output drifts from the full model
/// at each step. Heads pruned at a lower ratio are always a subset of those pruned at a higher one.
#include "attnscope/Engine.h"
#include "attnscope/PruneSweepResult.h"

namespace attnscope {

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
