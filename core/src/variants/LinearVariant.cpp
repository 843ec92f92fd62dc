// `linear:feature=elu`: linear attention (Katharopoulos et al. 2020), φ(x) = elu(x) + 1, computed in linear
// time; the implied attention φ(q_i)·φ(k_j) / Σ_j φ(q_i)·φ(k_j) is shown and measured.
#include <ATen/TensorOperators.h>
#include <ATen/ops/elu.h>

#include "LinearAttention.h"
#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class LinearVariant : public AttentionVariant {
 public:
  at::Tensor compute(const VariantCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     at::Tensor* probs) const override {
    return linearAttention(call, at::elu(q) + 1.0, at::elu(k) + 1.0, v, probs);  // [heads, q, dv]
  }
  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    return linearAttentionCost(call, q.size(0), q.size(1), k.size(1), q.size(2), q.size(2),
                               2.0 * q.size(0) * (q.size(1) + k.size(1)) * q.size(2));
  }
};

const RegisterVariant reg({"linear", "linear attention with φ = elu + 1 (feature=elu)",
                           {{"feature", ParamType::Text}},
                           [](const VariantSpec& s) {
                             if (s.textValue("feature", "elu") != "elu")
                               s.fail("feature '" + s.textValue("feature", "") +
                                      "' is not supported (only elu; use performer:... for random features)");
                             return std::make_unique<LinearVariant>();
                           }});

}  // namespace
}  // namespace attnscope
