#pragma once
/// \file Analysis.h
/// Derived views of a capture that the CLI and the GUI share.

#include <ATen/core/Tensor.h>

#include <vector>

namespace attnscope {

/// Attention rollout (Abnar & Zuidema 2020): R = Π_l norm(0.5·mean_heads(A_l) + 0.5·I), the first layer applied
/// first. \p layers: [heads, T, T] per layer, in order. \return [T, T]; row q is how much query q draws on each input.
at::Tensor attentionRollout(const std::vector<at::Tensor>& layers);

}  // namespace attnscope
