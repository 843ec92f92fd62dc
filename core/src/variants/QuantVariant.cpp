// `quant:bits=8`: q and k are quantised symmetrically per head to signed `bits`-bit integers before QKᵀ
// (what an int8 GEMM with int32 accumulation computes: exact below 2^24, which covers head_dim·127²).
#include <ATen/TensorOperators.h>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class QuantVariant : public AttentionVariant {
 public:
  explicit QuantVariant(int bits) : m_levels(static_cast<double>((int64_t{1} << (bits - 1)) - 1)) {}

  void editQK(const VariantCall& call, at::Tensor& q, at::Tensor& k) const override {
    q = quantise(q);  // [heads, q, d]
    k = quantise(k);  // [heads, k, d]
  }

  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    AttentionCost c = denseAttentionCost(q.size(0), q.size(1), k.size(1), q.size(2));
    return c;  // same operation count; the QKᵀ operands shrink to 1 byte
  }

 private:
  at::Tensor quantise(const at::Tensor& x) const {
    const at::Tensor step = x.abs().amax({1, 2}, true).clamp_min(1e-12) / m_levels;  // [heads, 1, 1]
    return (x / step).round().clamp(-m_levels, m_levels) * step;                     // [heads, t, d]
  }
  double m_levels;
};

const RegisterVariant reg({"quant", "QKᵀ with q and k quantised to signed integers per head (bits=8)",
                           {{"bits", ParamType::Int}},
                           [](const VariantSpec& s) {
                             const int64_t bits = s.integer("bits", 8);
                             if (bits < 2 || bits > 16) s.fail("bits must be between 2 and 16");
                             return std::make_unique<QuantVariant>(static_cast<int>(bits));
                           }});

}  // namespace
}  // namespace attnscope
