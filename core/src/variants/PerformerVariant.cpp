// `performer:features=64,seed=0`: FAVOR+ (Choromanski et al. 2021) — positive orthogonal random features
// φ(x) = exp(ωx' − |x'|²/2) / √m with x' = x·scale^½, so that E[φ(q)·φ(k)] = exp(q·k·scale), the softmax kernel.
// Computed in linear time; the implied row-normalised attention is shown and measured.
#include <ATen/TensorOperators.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/linalg_qr.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>

#include <cmath>
#include <mutex>

#include "LinearAttention.h"
#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class PerformerVariant : public AttentionVariant {
 public:
  PerformerVariant(int64_t features, uint64_t seed) : m_features(features), m_seed(seed) {}

  at::Tensor compute(const VariantCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     at::Tensor* probs) const override {
    const at::Tensor w = projection(q.size(2)).to(q.device());  // [m, d]
    const double r = std::sqrt(call.scale);
    const at::Tensor xq = q.mul(r), xk = k.mul(r);                           // [heads, t, d]
    const at::Tensor pq = at::matmul(xq, w.t()), pk = at::matmul(xk, w.t());  // [heads, t, m]
    const at::Tensor nq = xq.pow(2).sum(-1, true).mul_(0.5), nk = xk.pow(2).sum(-1, true).mul_(0.5);  // [heads, t, 1]
    // Stabilisers cancel in the row normalisation: per query row for q, one constant per head for k.
    const at::Tensor phiQ = at::exp(pq - nq - std::get<0>(pq.max(-1, true)));  // [heads, q, m]
    const at::Tensor sk = pk - nk;                                            // [heads, k, m]
    const at::Tensor phiK = at::exp(sk - sk.amax({1, 2}, true));              // [heads, k, m]
    return linearAttention(call, phiQ, phiK, v, probs);                       // [heads, q, dv]
  }

  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    const double features = 2.0 * q.size(0) * (q.size(1) + k.size(1)) * q.size(2) * m_features;
    return linearAttentionCost(call, q.size(0), q.size(1), k.size(1), m_features, q.size(2), features);
  }

 private:
  /// ω [m, d]: blocks of d orthogonal Gaussian directions, rows rescaled to Gaussian-vector norms.
  at::Tensor projection(int64_t d) const {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_w.defined() && m_w.size(1) == d) return m_w;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(m_seed);
    std::vector<at::Tensor> blocks;
    for (int64_t done = 0; done < m_features; done += d) {
      const at::Tensor g = at::randn({d, d}, gen, at::TensorOptions().dtype(at::kFloat));  // [d, d]
      const at::Tensor qm = std::get<0>(at::linalg_qr(g));                                 // [d, d] orthonormal
      blocks.push_back(qm.t().narrow(0, 0, std::min(d, m_features - done)));               // [rows, d]
    }
    const at::Tensor norms = at::randn({m_features, d}, gen, at::TensorOptions().dtype(at::kFloat)).norm(2, {1}, true);  // [m, 1]
    m_w = at::cat(blocks, 0) * norms;  // [m, d]
    return m_w;
  }

  int64_t m_features;
  uint64_t m_seed;
  mutable std::mutex m_mutex;
  mutable at::Tensor m_w;
};

const RegisterVariant reg({"performer", "FAVOR+ positive orthogonal random features (features=64,seed=0)",
                           {{"features", ParamType::Int}, {"seed", ParamType::Int}},
                           [](const VariantSpec& s) {
                             const int64_t m = s.integer("features", 64);
                             if (m < 1) s.fail("features must be at least 1");
                             const int64_t seed = s.integer("seed", 0);
                             if (seed < 0) s.fail("seed must be non-negative");
                             return std::make_unique<PerformerVariant>(m, static_cast<uint64_t>(seed));
                           }});

}  // namespace
}  // namespace attnscope
