#include "LinearAttention.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>

#include <algorithm>

namespace attnscope {

namespace {
constexpr int64_t kChunk = 64;  // causal: queries handled per step (intra-chunk part is dense)
}

at::Tensor linearAttention(const VariantCall& call, const at::Tensor& phiQ, const at::Tensor& phiKIn,
                           const at::Tensor& vIn, at::Tensor* probs) {
  const int64_t heads = phiQ.size(0), tq = phiQ.size(1), tk = phiKIn.size(1);
  const at::Tensor v = vIn.to(at::kFloat);  // [heads, k, dv]
  at::Tensor phiK = phiKIn;                 // [heads, k, m]
  if (call.keyPaddingMask.defined())
    phiK = phiK.masked_fill(call.keyPaddingMask.view({1, tk, 1}), 0.0);  // [heads, k, m]
  at::Tensor out;
  if (!call.causal) {
    const at::Tensor kv = at::bmm(phiK.transpose(1, 2), v);                  // [heads, m, dv]
    const at::Tensor z = phiK.sum(1, true);                                  // [heads, 1, m]
    const at::Tensor den = (phiQ * z).sum(-1, true).clamp_min(1e-30);        // [heads, q, 1]
    out = at::bmm(phiQ, kv) / den;                                           // [heads, q, dv]
  } else {
    out = at::empty({heads, tq, v.size(2)}, v.options());  // [heads, q, dv]
    const int64_t past = call.past;
    at::Tensor state = at::bmm(phiK.narrow(1, 0, past).transpose(1, 2), v.narrow(1, 0, past));  // [heads, m, dv]
    at::Tensor z = phiK.narrow(1, 0, past).sum(1, true);                                          // [heads, 1, m]
    for (int64_t a = 0; a < tq; a += kChunk) {
      const int64_t n = std::min(kChunk, tq - a);
      const at::Tensor qc = phiQ.narrow(1, a, n);                         // [heads, n, m]
      const at::Tensor kc = phiK.narrow(1, past + a, n);                  // [heads, n, m]
      const at::Tensor vc = v.narrow(1, past + a, n);                     // [heads, n, dv]
      const at::Tensor local = at::bmm(qc, kc.transpose(1, 2)).tril_();   // [heads, n, n]
      const at::Tensor num = at::bmm(qc, state) + at::bmm(local, vc);     // [heads, n, dv]
      const at::Tensor den = ((qc * z).sum(-1, true) + local.sum(-1, true)).clamp_min(1e-30);  // [heads, n, 1]
      out.narrow(1, a, n).copy_(num / den);
      state = state + at::bmm(kc.transpose(1, 2), vc);  // [heads, m, dv]
      z = z + kc.sum(1, true);                          // [heads, 1, m]
    }
  }
  if (probs) {
    at::Tensor a = at::bmm(phiQ, phiK.transpose(1, 2));  // [heads, q, k]
    if (call.causal && tk > 1)
      a.masked_fill_(at::ones({tq, tk}, a.options().dtype(at::kBool)).triu_(call.past + 1), 0.0);
    *probs = a / a.sum(-1, true).clamp_min(1e-30);  // [heads, q, k]
  }
  return out.to(vIn.scalar_type());
}

AttentionCost linearAttentionCost(const VariantCall& call, int64_t heads, int64_t tq, int64_t tk, int64_t m,
                                  int64_t dv, double featureFlops) {
  const double h = heads;
  double flops = featureFlops + 2.0 * h * tk * m * dv + 2.0 * h * tq * m * dv + 2.0 * h * tq * m + h * tk * m;
  if (call.causal) flops += 2.0 * h * tq * std::min<int64_t>(kChunk, tq) * (m + dv);
  return {flops, h * (m * dv + m) * 4.0};
}

}  // namespace attnscope
