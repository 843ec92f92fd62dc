// `hier:block=16,keep=4`: hierarchical coarse-to-fine attention. Coarse step: each query scores the
// mean-pooled keys of every key block; fine step: the softmax runs only over the keys of the `keep`
// best-scoring blocks (per head and query). For causal models blocks that start after the query are
// never kept.
#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class HierVariant : public MaskVariant {
 public:
  HierVariant(int64_t block, int64_t keep) : m_block(block), m_keep(keep) {}

  at::Tensor allowed(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    const int64_t heads = q.size(0), tq = q.size(1), tk = k.size(1), d = k.size(2);
    const int64_t blocks = (tk + m_block - 1) / m_block;
    if (blocks <= m_keep) return at::ones({1, 1, 1}, q.options().dtype(at::kBool));  // every block is kept
    // Coarse keys: the mean of each block's keys.
    at::Tensor padded = k;  // [heads, blocks * block, d]
    if (blocks * m_block != tk) padded = at::cat({k, at::zeros({heads, blocks * m_block - tk, d}, k.options())}, 1);
    at::Tensor counts = at::ones({blocks}, k.options()).mul_(static_cast<double>(m_block));  // [blocks]
    counts[blocks - 1] = static_cast<double>(tk - (blocks - 1) * m_block);
    const at::Tensor coarseK = padded.view({heads, blocks, m_block, d}).sum(2) / counts.view({1, blocks, 1});  // [heads, blocks, d]
    at::Tensor coarse = at::bmm(q.mul(call.scale), coarseK.transpose(1, 2));  // [heads, q, blocks]
    if (call.causal) {
      const at::Tensor qi = queryPositions(call, tq, q.device()).unsqueeze(1);                              // [q, 1]
      const at::Tensor start = at::arange(blocks, qi.options()).mul_(m_block).unsqueeze(0);                 // [1, blocks]
      coarse.masked_fill_(start.gt(qi), -std::numeric_limits<float>::infinity());
    }
    const at::Tensor best = std::get<1>(coarse.topk(m_keep, -1));                             // [heads, q, keep]
    at::Tensor keptBlocks = at::zeros(coarse.sizes(), coarse.options().dtype(at::kBool));   // [heads, q, blocks]
    keptBlocks.scatter_(2, best, true);
    if (call.causal) keptBlocks.logical_and_(coarse.isfinite());
    return keptBlocks.repeat_interleave(m_block, 2).narrow(2, 0, tk);  // [heads, q, k]
  }

  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    const double h = q.size(0), tq = q.size(1), tk = k.size(1), d = q.size(2);
    const double blocks = std::ceil(tk / m_block);
    const double fine = std::min(tk, static_cast<double>(m_keep * m_block));
    return {h * tk * d + h * tq * blocks * (2.0 * d + std::log2(std::max(2.0, blocks))) + h * tq * fine * (4.0 * d + 3.0),
            h * tq * (blocks + fine) * 4.0};
  }

 private:
  int64_t m_block, m_keep;
};

const RegisterVariant reg({"hier", "coarse-to-fine: keep the best `keep` key blocks per query (block=16,keep=4)",
                           {{"block", ParamType::Int}, {"keep", ParamType::Int}},
                           [](const VariantSpec& s) {
                             const int64_t block = s.integer("block", 16), keep = s.integer("keep", 4);
                             if (block < 1) s.fail("block must be at least 1");
                             if (keep < 1) s.fail("keep must be at least 1");
                             return std::make_unique<HierVariant>(block, keep);
                           }});

}  // namespace
}  // namespace attnscope
