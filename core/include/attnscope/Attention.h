#pragma once
/// \file Attention.h
/// The attention chokepoint. Every model family computes scaled dot-product
/// attention through computeAttention(); capture and attention variants hook
/// in only here, so they work for every family at once.

#include <ATen/core/Tensor.h>

#include <string>

namespace attnscope {

/// Where an attention computation happens: the stack ("self", "encoder",
/// "decoder", "cross") and the 0-based layer inside it.
struct AttentionSite {
  std::string stack = "self";
  int layer = 0;
};

/// Observer (and, for variants, editor) of attention probabilities.
class AttentionHook {
 public:
  virtual ~AttentionHook() = default;
  /// Called once per attention computation with the float32 probabilities
  /// \p probs [heads, q, k]. \p queryOffset is the absolute position of query
  /// row 0 (non-zero during incremental decoding). May modify \p probs.
  virtual void onProbabilities(const AttentionSite& site, at::Tensor& probs, int64_t queryOffset) = 0;
};

/// Cached keys and values of one layer for incremental decoding.
struct LayerKvCache {
  at::Tensor k;  ///< [kv_heads, past, head_dim]
  at::Tensor v;  ///< [kv_heads, past, head_dim]
};

/// Everything computeAttention() needs besides q, k and v.
struct AttentionCall {
  AttentionSite site;
  double scale = 1.0;             ///< multiplies q·kᵀ (usually head_dim^-0.5)
  bool causal = false;            ///< query i sees keys 0..past+i only
  at::Tensor keyPaddingMask;      ///< optional bool [k]: true = key is padding (masked out)
  LayerKvCache* cache = nullptr;  ///< optional: k/v are appended to it and the full cache is attended
  AttentionHook* hook = nullptr;  ///< optional observer / editor of the probabilities
};

/// softmax(q·kᵀ·scale + mask)·v, with grouped-query attention: query head h
/// uses key/value head h / (heads / kv_heads).
/// \param q [heads, q, head_dim]  \param k [kv_heads, k, head_dim]  \param v [kv_heads, k, head_dim]
/// \return [heads, q, head_dim] in v's dtype. Probabilities are computed in float32.
at::Tensor computeAttention(const AttentionCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace attnscope
