#pragma once
/// \file Analysis.h
/// Derived views of a capture that the CLI and the GUI share.

#include <ATen/core/Tensor.h>

#include <vector>

namespace attnscope {

/// Attention rollout (Abnar & Zuidema 2020): R = Π_l norm(0.5·mean_heads(A_l) + 0.5·I), the first layer applied
/// first. \p layers: [heads, T, T] per layer, in order. \return [T, T]; row q is how much query q draws on each input.
at::Tensor attentionRollout(const std::vector<at::Tensor>& layers);

/// Attention flow (Abnar & Zuidema 2020): the attention of every layer as a layered graph — a node per position
/// per layer boundary, an edge from position i above layer l to position j below it with capacity
/// norm(0.5·mean_heads(A_l) + 0.5·I)[i, j] — and the maximum flow from \p query above the last layer to each input
/// position below the first (each computed on its own, as the paper's code does), normalised to sum 1.
/// \p layers: [heads, T, T] per layer, in order. \return float64 [T]. Throws InputError beyond 2,048 positions (T
/// maximum flows over T²·layers edges).
at::Tensor attentionFlow(const std::vector<at::Tensor>& layers, int64_t query);

}  // namespace attnscope
