// `window:w=64[,causal]`: local / sliding-window attention (Longformer). Query i attends to keys j with
// |i - j| <= w, or to the last w keys (i - w < j <= i) for causal models and with the `causal` flag.
// When the band is narrow compared with the input, the output is computed chunk by chunk over the band
// only (O(T·w) time and memory); the dense [heads, q, k] matrix is built only when it is displayed.
#include <ATen/TensorOperators.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <limits>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class WindowVariant : public MaskVariant {
 public:
  WindowVariant(int64_t w, bool oneSided) : m_w(w), m_oneSided(oneSided) {}

  at::Tensor allowed(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    const at::Tensor qi = queryPositions(call, q.size(1), q.device()).unsqueeze(1);  // [q, 1]
    const at::Tensor kj = at::arange(k.size(1), qi.options()).unsqueeze(0);         // [1, k]
    return band(call, qi, kj);                                                      // [q, k]
  }

  at::Tensor compute(const VariantCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     at::Tensor* probs) const override {
    const int64_t heads = q.size(0), tq = q.size(1), tk = k.size(1);
    const int64_t span = oneSided(call) ? m_w : 2 * m_w + 1;
    if (2 * span >= tk) return {};  // the band covers most keys: the dense path is as fast
    const int64_t chunk = std::max<int64_t>(64, m_w);
    at::Tensor out = at::empty({heads, tq, v.size(2)}, v.options());  // [heads, q, d]
    if (probs) *probs = at::zeros({heads, tq, tk}, q.options());      // [heads, q, k]
    const auto longs = at::TensorOptions().dtype(at::kLong).device(q.device());
    for (int64_t a = 0; a < tq; a += chunk) {
      const int64_t n = std::min(chunk, tq - a);
      const int64_t i0 = call.past + a, i1 = call.past + a + n - 1;
      const int64_t lo = std::max<int64_t>(0, i0 - (oneSided(call) ? m_w - 1 : m_w));
      const int64_t hi = std::min<int64_t>(tk - 1, oneSided(call) || call.causal ? i1 : i1 + m_w);
      const int64_t m = hi - lo + 1;
      at::Tensor s = at::bmm(q.narrow(1, a, n).mul(call.scale), k.narrow(1, lo, m).transpose(1, 2));  // [heads, n, m]
      const at::Tensor qi = at::arange(i0, i1 + 1, longs).unsqueeze(1);                             // [n, 1]
      const at::Tensor kj = at::arange(lo, hi + 1, longs).unsqueeze(0);                             // [1, m]
      at::Tensor allow = band(call, qi, kj);                                                        // [n, m]
      if (call.keyPaddingMask.defined())
        allow = allow.logical_and(call.keyPaddingMask.narrow(0, lo, m).logical_not().unsqueeze(0));  // [n, m]
      s.masked_fill_(allow.logical_not(), -std::numeric_limits<float>::infinity());
      at::Tensor p = at::softmax(s, -1);  // [heads, n, m]
      p.masked_fill_(p.isnan(), 0.0);
      out.narrow(1, a, n).copy_(at::bmm(p.to(v.scalar_type()), v.narrow(1, lo, m)));  // [heads, n, d]
      if (probs) probs->narrow(1, a, n).narrow(2, lo, m).copy_(p);
    }
    return out;
  }

 private:
  bool oneSided(const VariantCall& call) const { return m_oneSided || call.causal; }

  /// Allowed (query position, key position) pairs, causal mask included.
  at::Tensor band(const VariantCall& call, const at::Tensor& qi, const at::Tensor& kj) const {
    if (oneSided(call)) return kj.le(qi).logical_and(kj.gt(qi - m_w));                 // [q, k]
    at::Tensor a = (kj - qi).abs().le(m_w);                                             // [q, k]
    return a;
  }

  int64_t m_w;
  bool m_oneSided;
};

const RegisterVariant reg({"window", "sliding window: keys within ±w, or the last w when causal (w=64[,causal])",
                           {{"w", ParamType::Int}, {"causal", ParamType::Flag}},
                           [](const VariantSpec& s) {
                             if (!s.has("w")) s.fail("missing w=N (the window half-width)");
                             const int64_t w = s.integer("w", 0);
                             if (w < 1) s.fail("w must be at least 1");
                             return std::make_unique<WindowVariant>(w, s.flag("causal"));
                           }});

}  // namespace
}  // namespace attnscope
