#pragma once
// The kernel shared by the linear-attention variants (`linear`, `performer`): given feature maps φ(q), φ(k)
// it computes φ(q)·(φ(k)ᵀ·v) / (φ(q)·Σφ(k)) in time linear in the sequence length (chunked prefix sums
// when causal), and, only when asked, the implied row-normalised attention matrix for display.
#include <ATen/core/Tensor.h>

#include "attnscope/Variant.h"

namespace attnscope {

/// \param phiQ [heads, q, m]  \param phiK [heads, k, m] (non-negative)  \param v [heads, k, dv]
/// \return [heads, q, dv] in v's dtype; *probs = [heads, q, k] when probs is not null.
at::Tensor linearAttention(const VariantCall& call, const at::Tensor& phiQ, const at::Tensor& phiK, const at::Tensor& v,
                           at::Tensor* probs);

/// Analytic cost of linearAttention() with feature dimension \p m (plus \p featureFlops for the maps).
AttentionCost linearAttentionCost(const VariantCall& call, int64_t heads, int64_t tq, int64_t tk, int64_t m,
                                  int64_t dv, double featureFlops);

}  // namespace attnscope
