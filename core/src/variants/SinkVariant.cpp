// `sink:n=4,w=64`: streaming attention (StreamingLLM, Xiao et al. 2024). Query i attends to the first n keys (the
// "attention sinks") and to the last w keys up to itself (i - w < j <= i). Non-causal models get the first n keys
// and the keys within |i - j| < w. With a causal model every row past the first n + w keeps exactly n + w keys.
#include <ATen/TensorOperators.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class SinkVariant : public MaskVariant {
 public:
  SinkVariant(int64_t sinks, int64_t w) : m_sinks(sinks), m_w(w) {}

  at::Tensor allowed(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    const at::Tensor qi = queryPositions(call, q.size(1), q.device()).unsqueeze(1);  // [q, 1]
    const at::Tensor kj = at::arange(k.size(1), qi.options()).unsqueeze(0);         // [1, k]
    const at::Tensor recent = call.causal ? kj.le(qi).logical_and(kj.gt(qi - m_w))  // [q, k]
                                          : (kj - qi).abs().lt(m_w);                // [q, k]
    return recent.logical_or(kj.lt(m_sinks));                                      // [q, k]
  }

 private:
  int64_t m_sinks, m_w;
};

const RegisterVariant reg({"sink",
                           "streaming attention (StreamingLLM): the first n keys plus the last w (n=4,w=64)",
                           {{"n", ParamType::Int}, {"w", ParamType::Int}},
                           [](const VariantSpec& s) {
                             const int64_t n = s.integer("n", 4), w = s.integer("w", 64);
                             if (n < 0) s.fail("n must be at least 0 (the number of sink tokens)");
                             if (w < 1) s.fail("w must be at least 1 (the window of recent keys)");
                             return std::make_unique<SinkVariant>(n, w);
                           }});

}  // namespace
}  // namespace attnscope
