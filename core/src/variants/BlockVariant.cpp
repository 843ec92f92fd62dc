// `block:size=32[,global=2,random=3,seed=0]`: block-sparse "matrix blocking" in the BigBird pattern
// (Zaheer et al. 2020). Query i attends to the keys of its own block (i / size), to the first `global`
// positions (global tokens, which in turn attend to every key), and to `random` other key blocks chosen per
// query block by a seeded generator (for causal models only earlier blocks are candidates, so the choice does
// not change as generation goes on). Sparse inputs are computed block by block over the gathered keys only.
#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <limits>
#include <random>
#include <set>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class BlockVariant : public MaskVariant {
 public:
  BlockVariant(int64_t size, int64_t global, int64_t random, uint64_t seed)
      : m_size(size), m_global(global), m_random(random), m_seed(seed) {}

  at::Tensor allowed(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    const int64_t tq = q.size(1), tk = k.size(1);
    at::Tensor a = at::zeros({tq, tk}, at::TensorOptions().dtype(at::kBool));  // [q, k]
    auto acc = a.accessor<bool, 2>();
    for (int64_t r = 0; r < tq; ++r) {
      const int64_t i = call.past + r;
      if (i < m_global) {
        for (int64_t j = 0; j < tk; ++j) acc[r][j] = true;
        continue;
      }
      for (int64_t j : keysOfBlock(call, i / m_size, tk)) acc[r][j] = true;
    }
    return a.to(q.device());
  }

  at::Tensor compute(const VariantCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     at::Tensor* probs) const override {
    const int64_t heads = q.size(0), tq = q.size(1), tk = k.size(1);
    const int64_t perRow = m_size * (1 + m_random) + m_global;
    if (2 * perRow >= tk) return {};  // dense enough: the plain path is as fast
    at::Tensor out = at::empty({heads, tq, v.size(2)}, v.options());  // [heads, q, d]
    if (probs) *probs = at::zeros({heads, tq, tk}, q.options());      // [heads, q, k]
    const auto longs = at::TensorOptions().dtype(at::kLong).device(q.device());
    const float inf = std::numeric_limits<float>::infinity();
    int64_t r = 0;
    while (r < tq) {
      const int64_t i = call.past + r;
      const bool global = i < m_global;
      // Rows of one kind: the global rows, or the rest of one query block.
      const int64_t end = global ? std::min<int64_t>(m_global, call.past + tq)
                                 : std::min<int64_t>((i / m_size + 1) * m_size, call.past + tq);
      const int64_t n = end - i;
      at::Tensor keys;  // [m] int64 key positions
      if (global) {
        keys = at::arange(tk, longs);
      } else {
        const auto list = keysOfBlock(call, i / m_size, tk);
        keys = at::tensor(std::vector<int64_t>(list.begin(), list.end()), at::TensorOptions().dtype(at::kLong))
                   .to(q.device());
      }
      const at::Tensor kk = k.index_select(1, keys), vv = v.index_select(1, keys);  // [heads, m, d]
      at::Tensor s = at::bmm(q.narrow(1, r, n).mul(call.scale), kk.transpose(1, 2));  // [heads, n, m]
      at::Tensor forbid = at::zeros({n, keys.size(0)}, longs.dtype(at::kBool));       // [n, m]
      if (call.causal)
        forbid = keys.unsqueeze(0).gt(at::arange(i, i + n, longs).unsqueeze(1));  // [n, m]
      if (call.keyPaddingMask.defined())
        forbid = forbid.logical_or(call.keyPaddingMask.index_select(0, keys).unsqueeze(0));  // [n, m]
      s.masked_fill_(forbid, -inf);
      at::Tensor p = at::softmax(s, -1);  // [heads, n, m]
      p.masked_fill_(p.isnan(), 0.0);
      out.narrow(1, r, n).copy_(at::bmm(p.to(v.scalar_type()), vv));  // [heads, n, d]
      if (probs) probs->narrow(1, r, n).index_copy_(2, keys, p);
      r += n;
    }
    return out;
  }

 private:
  /// Key positions (< tk) a non-global query of block \p b may see: its block, the random blocks, the globals.
  std::set<int64_t> keysOfBlock(const VariantCall& call, int64_t b, int64_t tk) const {
    std::set<int64_t> keys;
    auto addBlock = [&](int64_t blk) {
      for (int64_t j = blk * m_size; j < std::min<int64_t>((blk + 1) * m_size, tk); ++j) keys.insert(j);
    };
    addBlock(b);
    for (int64_t j = 0; j < std::min(m_global, tk); ++j) keys.insert(j);
    if (m_random > 0) {
      const int64_t blocks = (tk + m_size - 1) / m_size;
      std::vector<int64_t> candidates;
      for (int64_t c = 0; c < (call.causal ? std::min(b, blocks) : blocks); ++c)
        if (c != b) candidates.push_back(c);
      std::mt19937_64 rng(m_seed * 1000003ULL + static_cast<uint64_t>(call.site.layer) * 7919ULL +
                          static_cast<uint64_t>(b));
      // Partial Fisher–Yates with the generator's raw output (portable, unlike std::shuffle).
      const int64_t take = std::min<int64_t>(m_random, static_cast<int64_t>(candidates.size()));
      for (int64_t t = 0; t < take; ++t) {
        const int64_t pick = t + static_cast<int64_t>(rng() % static_cast<uint64_t>(candidates.size() - t));
        std::swap(candidates[t], candidates[pick]);
        addBlock(candidates[t]);
      }
    }
    return keys;
  }

  int64_t m_size, m_global, m_random;
  uint64_t m_seed;
};

const RegisterVariant reg({"block",
                           "block-sparse (BigBird): own block + global tokens + random blocks "
                           "(size=32[,global=2,random=3,seed=0])",
                           {{"size", ParamType::Int}, {"global", ParamType::Int}, {"random", ParamType::Int},
                            {"seed", ParamType::Int}},
                           [](const VariantSpec& s) {
                             if (!s.has("size")) s.fail("missing size=N (the block size)");
                             const int64_t size = s.integer("size", 32);
                             if (size < 1) s.fail("size must be at least 1");
                             const int64_t global = s.integer("global", 0), random = s.integer("random", 0);
                             if (global < 0) s.fail("global must be non-negative");
                             if (random < 0) s.fail("random must be non-negative");
                             const int64_t seed = s.integer("seed", 0);
                             if (seed < 0) s.fail("seed must be non-negative");
                             return std::make_unique<BlockVariant>(size, global, random, static_cast<uint64_t>(seed));
                           }});

}  // namespace
}  // namespace attnscope
