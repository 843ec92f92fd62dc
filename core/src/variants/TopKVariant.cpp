// `topk:k=8`: each query keeps its k largest logits; the softmax renormalises over them.
#include <ATen/TensorOperators.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/topk.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class TopKVariant : public AttentionVariant {
 public:
  explicit TopKVariant(int64_t k) : m_k(k) {}

  void editScores(const VariantCall& call, at::Tensor& scores, const at::Tensor& q,
                  const at::Tensor& k) const override {
    const int64_t keep = std::min<int64_t>(m_k, scores.size(2));
    if (keep == scores.size(2)) return;
    const at::Tensor idx = std::get<1>(scores.topk(keep, -1));                     // [heads, q, keep]
    at::Tensor drop = at::ones(scores.sizes(), scores.options().dtype(at::kBool));  // [heads, q, k]
    drop.scatter_(2, idx, false);
    scores.masked_fill_(drop, -std::numeric_limits<float>::infinity());
  }

  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    // All logits are still computed (to find the top k); only k values per row are kept and used.
    const double h = q.size(0), tq = q.size(1), tk = k.size(1), d = q.size(2);
    const double kept = std::min<double>(m_k, tk);
    return {h * tq * tk * 2.0 * d + h * tq * tk * std::log2(std::max(2.0, kept)) + h * tq * kept * (2.0 * d + 3.0),
            h * tq * kept * 8.0};  // values + indices
  }

 private:
  int64_t m_k;
};

const RegisterVariant reg({"topk", "keep the k largest logits of every query row (k=8)",
                           {{"k", ParamType::Int}},
                           [](const VariantSpec& s) {
                             const int64_t k = s.integer("k", 8);
                             if (k < 1) s.fail("k must be at least 1");
                             return std::make_unique<TopKVariant>(k);
                           }});

}  // namespace
}  // namespace attnscope
