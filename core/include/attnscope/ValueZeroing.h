#pragma once
/// \file ValueZeroing.h
/// Value zeroing (Mohebbi et al. 2023, "Quantifying Context Mixing in Transformers"): how much layer l's
/// output at position i changes — cosine distance — when position j's value vectors are zeroed in every head
/// of that layer (nothing else changes), normalised per row; the layers' matrices rolled out (first layer
/// first). One forward per (layer, position): layers × T forwards. Plain types only.

#include <cstdint>
#include <vector>

namespace attnscope {

struct LoadedModel;
struct PreparedInput;

/// Row \p position (−1 = the last for causal models, else the first) of the rolled-out value-zeroing matrices
/// of the model's input stack (Model::inputStack(): "self", an encoder–decoder model's "encoder"): how much that
/// position draws on each input position, summing to 1. Throws InputError for a position outside the input or
/// inputs over 1,024 positions.
std::vector<double> valueZeroingAttribution(LoadedModel& m, const PreparedInput& input,
                                            int64_t position = -1);

}  // namespace attnscope
