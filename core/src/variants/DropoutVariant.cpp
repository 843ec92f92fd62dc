// `dropout:p=0.1,seed=0`: attention dropout applied at inference (inverted dropout: kept weights are scaled
// by 1/(1-p)), to show what the regulariser does to the maps. Seeded per (stack, layer): reproducible.
#include <ATen/TensorOperators.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/empty.h>

#include <functional>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class DropoutVariant : public AttentionVariant {
 public:
  DropoutVariant(double p, uint64_t seed) : m_p(p), m_seed(seed) {}

  void editProbs(const VariantCall& call, at::Tensor& probs) const override {
    const uint64_t siteSeed = m_seed * 1000003ULL + static_cast<uint64_t>(call.site.layer) * 7919ULL +
                              std::hash<std::string>()(call.site.stack) % 65521ULL + static_cast<uint64_t>(call.past);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(siteSeed);
    at::Tensor keep = at::empty(probs.sizes(), at::TensorOptions().dtype(at::kFloat));  // [heads, q, k]
    keep.bernoulli_(1.0 - m_p, gen);
    probs.mul_(keep.to(probs.device()).div_(1.0 - m_p));
  }

 private:
  double m_p;
  uint64_t m_seed;
};

const RegisterVariant reg({"dropout", "attention dropout at inference, seeded (p=0.1,seed=0)",
                           {{"p", ParamType::Double}, {"seed", ParamType::Int}},
                           [](const VariantSpec& s) {
                             const double p = s.number("p", 0.1);
                             if (!(p >= 0.0 && p < 1.0)) s.fail("p must be in [0, 1)");
                             const int64_t seed = s.integer("seed", 0);
                             if (seed < 0) s.fail("seed must be non-negative");
                             return std::make_unique<DropoutVariant>(p, static_cast<uint64_t>(seed));
                           }});

}  // namespace
}  // namespace attnscope
