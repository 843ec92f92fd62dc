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

class AttentionVariant;
struct AttentionCost;
struct QueryKeyLayer;

/// A part of a layer that writes to the residual stream (direct logit attribution sums them).
enum class ResidualPart {
  Embeddings,  ///< the residual stream entering layer 0 (token, position and type embeddings, scaled as the model does)
  Attention,   ///< what a layer's attention block adds (all heads, the output projection and its bias)
  CrossAttention,  ///< what a decoder layer's cross-attention block adds (encoder–decoder models)
  Mlp              ///< what a layer's MLP block adds
};

/// What a mixture-of-experts router decided for each token of one layer.
struct RoutingRecord {
  at::Tensor logits;   ///< [T, experts] float32: the router's raw output (HF router_logits; bias included)
  at::Tensor probs;    ///< [T, experts] float32: the router's distribution over all experts (softmax or sigmoid)
  at::Tensor chosen;   ///< [T, k] int64: the experts each token is sent to, in the family's top-k order
  at::Tensor weights;  ///< [T, k] float32: the weights their outputs are mixed with (after the family's normalisation)
};

/// Observer of what happens at the chokepoint (capture, comparison recording, progress).
class AttentionHook {
 public:
  virtual ~AttentionHook() = default;
  /// Whether the dense probabilities of \p site are needed. Variants with a sparse or linear
  /// algorithm only materialise the dense [heads, q, k] matrix when this is true.
  virtual bool wantsProbabilities(const AttentionSite& site) const { return true; }
  /// Whether onCost() should be called (computing a variant's cost can take a pass over a mask).
  virtual bool wantsCost() const { return false; }
  /// Called once per attention computation with the float32 probabilities
  /// \p probs [heads, q, k] (undefined when wantsProbabilities() was false). \p queryOffset is the
  /// absolute position of query row 0 (non-zero during incremental decoding).
  virtual void onProbabilities(const AttentionSite& site, at::Tensor& probs, int64_t queryOffset) = 0;
  /// The values every query of \p site attends over ([kv_heads, k, head_dim], the cache included), before any variant.
  virtual void onValues(const AttentionSite& site, const at::Tensor& values) {}
  /// The per-head attention output [heads, q, head_dim] before the heads are merged.
  virtual void onHeadOutputs(const AttentionSite& site, const at::Tensor& out, int64_t queryOffset) {}
  /// The hidden state [T, hidden] a layer of \p site.stack hands to the next layer.
  virtual void onLayerOutput(const AttentionSite& site, const at::Tensor& hidden) {}
  /// What \p part of layer \p site.layer adds to the residual stream of \p site.stack ([T, hidden]); the embeddings
  /// are reported as layer 0's. Only families whose Model::residualForm() is not None report it. Pre-norm: the parts
  /// add up to the hidden state the last layer hands on; post-norm: each write is reported before the LayerNorm that
  /// follows its residual sum.
  virtual void onResidualWrite(const AttentionSite& site, ResidualPart part, const at::Tensor& write) {}
  /// The probability each query row of \p site gives a learned attention sink (gpt-oss): [heads, q], float32. The
  /// probabilities onProbabilities() receives are those of the real keys (rows sum to 1 − sink mass, as Hugging
  /// Face reports them). Called before onProbabilities(), only by families with sinks.
  virtual void onSinkMass(const AttentionSite& site, const at::Tensor& mass, int64_t queryOffset) {}
  /// A mixture-of-experts layer's routing (see RoutingRecord), reported by the family's MoE block of \p site.layer.
  virtual void onRouting(const AttentionSite& site, const RoutingRecord& routing, int64_t queryOffset) {}
  /// Analytic cost of the attention computed at \p site (only when wantsCost()).
  virtual void onCost(const AttentionSite& site, const AttentionCost& cost) {}
  /// Whether the queries, keys and row log-sum-exp of \p site are wanted (the long-input capture kind).
  /// Only attention without a variant can be described this way (computeAttention() throws InputError otherwise).
  virtual bool wantsQueryKey(const AttentionSite& site) const { return false; }
  /// Called (when wantsQueryKey()) before onProbabilities() with every head's queries, keys and lse.
  virtual void onQueryKey(const AttentionSite& site, QueryKeyLayer& layer) {}
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
  /// Sliding window (Mistral, Qwen2, Phi-3): when > 0, the query at absolute position p sees only keys j with
  /// p - slidingWindow < j (exactly slidingWindow keys including itself when causal).
  int64_t slidingWindow = 0;
  at::Tensor keyPaddingMask;      ///< optional bool [k]: true = key is padding (masked out)
  /// Optional additive score bias [heads, q, k] (T5's relative position bias), added to q·kᵀ·scale before the
  /// masks and the softmax. Variants with their own algorithm (linear, performer) do not see it.
  at::Tensor bias;
  /// Logit soft-capping (Gemma-2): when > 0 the scaled scores s become softcap·tanh(s / softcap) before the bias
  /// and the masks.
  double softcap = 0;
  /// Chunked attention (Llama 4's local layers): when > 0 the query at absolute position p sees only keys j with
  /// j / chunkSize == p / chunkSize.
  int64_t chunkSize = 0;
  /// Optional learned sink logits [heads] (gpt-oss): one extra key per head that takes part in the softmax and
  /// contributes no value. The probabilities reported are those of the real keys; the sink's share goes to
  /// AttentionHook::onSinkMass().
  at::Tensor sinks;
  LayerKvCache* cache = nullptr;  ///< optional: k/v are appended to it and the full cache is attended
  AttentionHook* hook = nullptr;  ///< optional observer of the probabilities
  const AttentionVariant* variant = nullptr;  ///< optional attention variant (see Variant.h)
  /// Absolute position of query row 0; -1 = keys before the queries (k - q, self-attention with a cache).
  /// Cross-attention sets it to the decoder position, since its keys are encoder frames.
  int64_t queryOffset = -1;
};

/// softmax(q·kᵀ·scale + mask)·v, with grouped-query attention: query head h
/// uses key/value head h / (heads / kv_heads). Without a variant and without a hook that wants the dense
/// probabilities, it is computed in query chunks (no [heads, q, k] tensor: memory linear in the length; causal
/// chunks skip the keys they cannot see).
/// \param q [heads, q, head_dim]  \param k [kv_heads, k, head_dim]  \param v [kv_heads, k, head_dim]
/// \return [heads, q, head_dim] in v's dtype. Probabilities are computed in float32.
at::Tensor computeAttention(const AttentionCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace attnscope
