#include "attnscope/Attention.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>

#include <limits>

#include "attnscope/Errors.h"

namespace attnscope {

at::Tensor computeAttention(const AttentionCall& call, const at::Tensor& qIn, const at::Tensor& kIn,
                            const at::Tensor& vIn) {
  at::Tensor k = kIn, v = vIn;
  if (call.cache) {
    if (call.cache->k.defined()) {
      k = at::cat({call.cache->k, kIn}, 1);  // [kv_heads, past + k, head_dim]
      v = at::cat({call.cache->v, vIn}, 1);  // [kv_heads, past + k, head_dim]
    }
    call.cache->k = k;
    call.cache->v = v;
  }
  const int64_t heads = qIn.size(0), kvHeads = k.size(0);
  const int64_t tq = qIn.size(1), tk = k.size(1);
  if (heads % kvHeads != 0)
    throw AttnScopeError("attention at " + call.site.stack + " layer " + std::to_string(call.site.layer) + ": " +
                         std::to_string(heads) + " query heads cannot share " + std::to_string(kvHeads) +
                         " key/value heads");
  if (kvHeads != heads) {
    k = k.repeat_interleave(heads / kvHeads, 0);  // [heads, k, head_dim]
    v = v.repeat_interleave(heads / kvHeads, 0);  // [heads, k, head_dim]
  }
  const at::Tensor q32 = qIn.scalar_type() == at::kFloat ? qIn : qIn.to(at::kFloat);
  const at::Tensor k32 = k.scalar_type() == at::kFloat ? k : k.to(at::kFloat);
  // The scale is applied to q ([heads, q, d], cheaper than a pass over [heads, q, k]). Note: baddbmm with beta=0
  // over an uninitialised buffer is not safe in LibTorch 1.13 (its small-matrix CPU kernel multiplies NaN by 0).
  at::Tensor scores = at::bmm(q32.mul(call.scale), k32.transpose(1, 2));  // [heads, q, k]
  const int64_t past = tk - tq;  // keys before the first query (incremental decoding)
  if (call.causal && tk > 1) {
    // Query i (absolute past + i) must not see key j > past + i.
    at::Tensor future = at::ones({tq, tk}, scores.options().dtype(at::kBool)).triu_(past + 1);  // [q, k]
    scores.masked_fill_(future, -std::numeric_limits<float>::infinity());
  }
  if (call.keyPaddingMask.defined())
    scores.masked_fill_(call.keyPaddingMask.view({1, 1, tk}), -std::numeric_limits<float>::infinity());
  at::Tensor probs = at::softmax(scores, -1);  // [heads, q, k]
  if (call.hook) call.hook->onProbabilities(call.site, probs, past);
  const at::Tensor p = probs.scalar_type() == v.scalar_type() ? probs : probs.to(v.scalar_type());
  return at::matmul(p, v);  // [heads, q, head_dim]
}

}  // namespace attnscope
