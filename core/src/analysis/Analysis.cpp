#include "attnscope/Analysis.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <limits>
#include <queue>
#include <string>

#include "attnscope/Errors.h"

namespace attnscope {

at::Tensor attentionRollout(const std::vector<at::Tensor>& layers) {
  if (layers.empty()) throw InputError("rollout needs the attention of every layer (none captured)");
  const int64_t T = layers.front().size(-1);
  at::Tensor rollout = at::eye(T, at::TensorOptions().dtype(at::kDouble));  // [T, T]
  for (const auto& a : layers) {
    if (a.dim() != 3 || a.size(1) != T || a.size(2) != T)
      throw InputError("rollout needs square [heads, T, T] self-attention in every layer");
    at::Tensor m = a.to(at::kDouble).mean(0) * 0.5 + at::eye(T, at::TensorOptions().dtype(at::kDouble)) * 0.5;  // [T, T]
    m = m / m.sum(-1, true);
    rollout = at::matmul(m, rollout);  // [T, T]
  }
  return rollout.to(at::kFloat);
}

namespace {
/// Dinic's maximum flow on a small directed graph with real capacities.
class MaxFlow {
 public:
  explicit MaxFlow(int nodes) : m_first(static_cast<size_t>(nodes), -1), m_level(static_cast<size_t>(nodes)),
                                m_next(static_cast<size_t>(nodes)) {}
  void addEdge(int from, int to, double capacity) {
    m_edges.push_back({to, m_first[static_cast<size_t>(from)], capacity, capacity});
    m_first[static_cast<size_t>(from)] = static_cast<int>(m_edges.size()) - 1;
    m_edges.push_back({from, m_first[static_cast<size_t>(to)], 0.0, 0.0});
    m_first[static_cast<size_t>(to)] = static_cast<int>(m_edges.size()) - 1;
  }
  /// The maximum flow from \p s to \p t; the residual capacities are restored first, so it can be called again.
  double run(int s, int t) {
    for (Edge& e : m_edges) e.residual = e.capacity;
    double total = 0;
    while (levels(s, t)) {
      m_next = m_first;
      for (double f; (f = push(s, t, std::numeric_limits<double>::infinity())) > kEps;) total += f;
    }
    return total;
  }

 private:
  static constexpr double kEps = 1e-15;
  struct Edge {
    int to, next;
    double capacity, residual;
  };
  bool levels(int s, int t) {
    std::fill(m_level.begin(), m_level.end(), -1);
    std::queue<int> q;
    m_level[static_cast<size_t>(s)] = 0;
    q.push(s);
    while (!q.empty()) {
      const int u = q.front();
      q.pop();
      for (int e = m_first[static_cast<size_t>(u)]; e >= 0; e = m_edges[static_cast<size_t>(e)].next) {
        const Edge& E = m_edges[static_cast<size_t>(e)];
        if (E.residual > kEps && m_level[static_cast<size_t>(E.to)] < 0) {
          m_level[static_cast<size_t>(E.to)] = m_level[static_cast<size_t>(u)] + 1;
          q.push(E.to);
        }
      }
    }
    return m_level[static_cast<size_t>(t)] >= 0;
  }
  double push(int u, int t, double limit) {
    if (u == t) return limit;
    for (int& e = m_next[static_cast<size_t>(u)]; e >= 0; e = m_edges[static_cast<size_t>(e)].next) {
      Edge& E = m_edges[static_cast<size_t>(e)];
      if (E.residual <= kEps || m_level[static_cast<size_t>(E.to)] != m_level[static_cast<size_t>(u)] + 1) continue;
      const double f = push(E.to, t, std::min(limit, E.residual));
      if (f > kEps) {
        E.residual -= f;
        m_edges[static_cast<size_t>(e ^ 1)].residual += f;
        return f;
      }
    }
    return 0;
  }
  std::vector<int> m_first;
  std::vector<int> m_level, m_next;
  std::vector<Edge> m_edges;
};
}  // namespace

at::Tensor attentionFlow(const std::vector<at::Tensor>& layers, int64_t query) {
  if (layers.empty()) throw InputError("attention flow needs the attention of every layer (none captured)");
  const int64_t T = layers.front().size(-1);
  if (T > 2048)
    throw InputError("attention flow solves one maximum flow per position over T²·layers edges; " +
                     std::to_string(T) + " positions is more than the 2,048 it takes (use rollout)");
  if (query < 0 || query >= T)
    throw InputError("query " + std::to_string(query) + " is outside 0.." + std::to_string(T - 1));
  const int64_t L = static_cast<int64_t>(layers.size());
  // Node (boundary b, position i) = b·T + i; boundary 0 is the input, boundary L the last layer's output.
  MaxFlow graph(static_cast<int>((L + 1) * T));
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor& a = layers[static_cast<size_t>(l)];
    if (a.dim() != 3 || a.size(1) != T || a.size(2) != T)
      throw InputError("attention flow needs square [heads, T, T] self-attention in every layer");
    at::Tensor m = a.to(at::kDouble).mean(0) * 0.5 + at::eye(T, at::TensorOptions().dtype(at::kDouble)) * 0.5;  // [T, T]
    m = (m / m.sum(-1, true)).contiguous();  // [T, T]
    const double* p = m.data_ptr<double>();
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j)
        if (p[i * T + j] > 0) graph.addEdge(static_cast<int>((l + 1) * T + i), static_cast<int>(l * T + j), p[i * T + j]);
  }
  at::Tensor flow = at::zeros({T}, at::TensorOptions().dtype(at::kDouble));  // [T]
  double* f = flow.data_ptr<double>();
  for (int64_t j = 0; j < T; ++j) f[j] = graph.run(static_cast<int>(L * T + query), static_cast<int>(j));
  const double total = flow.sum().item<double>();
  if (total > 0) flow = flow / total;  // [T]
  return flow;
}

}  // namespace attnscope
