#include "attnscope/AttentionCapture.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <sstream>

#include "attnscope/Errors.h"

namespace attnscope {

bool parseNonNegativeInt(const std::string& text, int64_t* value) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (...) {
    return false;
  }
  if (used == 0 || used != text.size() || v < 0) return false;
  *value = v;
  return true;
}

std::set<int> parseIndexList(const std::string& text, const std::string& option) {
  std::set<int> out;
  if (text.empty() || text == "all") return out;
  std::stringstream ss(text);
  std::string part;
  auto number = [&](const std::string& s) {
    size_t used = 0;
    int v = -1;
    try {
      v = std::stoi(s, &used);
    } catch (...) {
      used = 0;
    }
    if (used != s.size() || v < 0)
      throw InputError("option " + option + ": '" + s + "' is not a non-negative integer (expected e.g. 0,2-5)");
    return v;
  };
  while (std::getline(ss, part, ',')) {
    if (part.empty()) throw InputError("option " + option + ": empty entry in '" + text + "'");
    const size_t dash = part.find('-');
    if (dash == std::string::npos) {
      out.insert(number(part));
    } else {
      const int a = number(part.substr(0, dash)), b = number(part.substr(dash + 1));
      if (b < a) throw InputError("option " + option + ": range '" + part + "' is reversed");
      for (int i = a; i <= b; ++i) out.insert(i);
    }
  }
  return out;
}

void AttentionCapture::onProbabilities(const AttentionSite& site, at::Tensor& probs, int64_t queryOffset) {
  if (m_control) {
    if (m_control->cancel.load()) throw CancelledError();
    ++m_control->done;
    if (m_control->progress) m_control->progress(m_control->done, m_control->total);
  }
  if (!m_selection.wants(site.layer) || !probs.defined()) return;
  at::Tensor p = probs.detach();  // [heads, q, k]
  if (!m_selection.heads.empty()) {
    std::vector<int64_t> idx;
    for (int h : m_selection.heads)
      if (h < p.size(0)) idx.push_back(h);
    p = p.index_select(0, at::tensor(idx, at::TensorOptions().dtype(at::kLong).device(p.device())));  // [sel, q, k]
  }
  // softmax() returned a fresh tensor that nothing writes to afterwards, so a CPU float32 result is
  // kept as is; other devices/dtypes are copied to the CPU as float32.
  if (!p.device().is_cpu() || p.scalar_type() != at::kFloat) p = p.to(at::kCPU, at::kFloat);  // [sel, q, k]
  const auto key = std::make_pair(site.stack, site.layer);
  auto it = m_records.find(key);
  if (it == m_records.end() || queryOffset == 0) {
    m_records[key] = p;
    if (m_control && m_control->layerCaptured) m_control->layerCaptured(*this);
    return;
  }
  // Incremental decoding: append the new query rows, widening earlier rows with zeros.
  at::Tensor old = it->second;  // [sel, q_old, k_old]
  const int64_t rows = old.size(1) + p.size(1), cols = std::max(old.size(2), p.size(2));
  at::Tensor grown = at::zeros({p.size(0), rows, cols}, p.options());  // [sel, q_old + q_new, k]
  grown.narrow(1, 0, old.size(1)).narrow(2, 0, old.size(2)).copy_(old);
  grown.narrow(1, old.size(1), p.size(1)).narrow(2, 0, p.size(2)).copy_(p);
  it->second = grown;
}

namespace {
/// \p t as a CPU float32 tensor that owns exactly its own bytes (a view into a larger activation would keep the
/// whole activation alive for as long as the capture).
at::Tensor ownedCpuFloat(const at::Tensor& t) {
  at::Tensor c = t.detach();
  if (!c.device().is_cpu() || c.scalar_type() != at::kFloat) return c.to(at::kCPU, at::kFloat).contiguous();
  if (!c.is_contiguous() || c.storage().nbytes() != static_cast<size_t>(c.numel()) * sizeof(float)) return c.clone().contiguous();
  return c;
}
}  // namespace

void AttentionCapture::onQueryKey(const AttentionSite& site, QueryKeyLayer& layer) {
  if (!m_selection.wants(site.layer)) return;
  const auto key = std::make_pair(site.stack, site.layer);
  if (m_queryKeys.count(key) || layer.past != 0)
    throw InputError("incremental decoding cannot be stored as queries and keys; store probabilities");
  QueryKeyLayer r = layer;
  r.heads = heads(layer.totalHeads);
  at::Tensor q = layer.queries, l = layer.lse, bias = layer.biasDiagonals;
  if (!m_selection.heads.empty()) {
    std::vector<int64_t> idx(r.heads.begin(), r.heads.end());
    const at::Tensor index = at::tensor(idx, at::TensorOptions().dtype(at::kLong).device(q.device()));
    q = q.index_select(0, index);  // [sel, q, d]
    l = l.index_select(0, index);  // [sel, q]
    if (bias.defined()) bias = bias.index_select(0, index);  // [sel, q + k - 1]
  }
  r.queries = ownedCpuFloat(q);  // [sel, q, d]
  r.keys = ownedCpuFloat(layer.keys);  // [kv_heads, k, d]
  r.lse = l.detach().to(at::kCPU, at::kDouble).clone();  // [sel, q]
  if (bias.defined()) r.biasDiagonals = ownedCpuFloat(bias);  // [sel, q + k - 1]
  if (layer.keyPaddingMask.defined()) r.keyPaddingMask = layer.keyPaddingMask.detach().to(at::kCPU, at::kBool).clone();  // [k]
  m_queryKeys[key] = std::move(r);
  if (m_control && m_control->layerCaptured) m_control->layerCaptured(*this);
}

void AttentionCapture::onHeadOutputs(const AttentionSite& site, const at::Tensor& out, int64_t queryOffset) {
  if (!m_recordOutputs) return;
  m_headOutputs[{site.stack, site.layer}] = out.detach().to(at::kCPU, at::kFloat, false, true);  // [heads, q, d]
}

void AttentionCapture::onLayerOutput(const AttentionSite& site, const at::Tensor& hidden) {
  if (!m_recordOutputs) return;
  m_layerOutputs[{site.stack, site.layer}] = hidden.detach().to(at::kCPU, at::kFloat, false, true);  // [T, H]
}

void AttentionCapture::onCost(const AttentionSite& site, const AttentionCost& cost) { m_cost += cost; }

at::Tensor AttentionCapture::get(const std::string& stack, int layer) const {
  auto it = m_records.find({stack, layer});
  return it == m_records.end() ? at::Tensor() : it->second;
}

std::vector<int> AttentionCapture::heads(int totalHeads) const {
  std::vector<int> out;
  if (m_selection.heads.empty()) {
    for (int h = 0; h < totalHeads; ++h) out.push_back(h);
  } else {
    for (int h : m_selection.heads)
      if (h < totalHeads) out.push_back(h);
  }
  return out;
}

void AttentionCapture::onSinkMass(const AttentionSite& site, const at::Tensor& mass, int64_t queryOffset) {
  if (!m_selection.wants(site.layer) || !mass.defined()) return;
  at::Tensor m = mass.detach();  // [heads, q]
  if (!m_selection.heads.empty()) {
    std::vector<int64_t> idx;
    for (int h : m_selection.heads)
      if (h < m.size(0)) idx.push_back(h);
    m = m.index_select(0, at::tensor(idx, at::TensorOptions().dtype(at::kLong).device(m.device())));  // [sel, q]
  }
  m = m.to(at::kCPU, at::kFloat, false, true);  // [sel, q]
  const auto key = std::make_pair(site.stack, site.layer);
  auto it = m_sinkMass.find(key);
  if (it == m_sinkMass.end() || queryOffset == 0)
    m_sinkMass[key] = m;
  else
    it->second = at::cat({it->second, m}, 1);  // [sel, q_old + q_new]
}

void AttentionCapture::onRouting(const AttentionSite& site, const RoutingRecord& routing, int64_t queryOffset) {
  RoutingRecord r;
  r.logits = routing.logits.detach().to(at::kCPU, at::kFloat, false, true);    // [T, experts]
  r.probs = routing.probs.detach().to(at::kCPU, at::kFloat, false, true);      // [T, experts]
  r.chosen = routing.chosen.detach().to(at::kCPU, at::kLong, false, true);     // [T, k]
  r.weights = routing.weights.detach().to(at::kCPU, at::kFloat, false, true);  // [T, k]
  const auto key = std::make_pair(site.stack, site.layer);
  auto it = m_routing.find(key);
  if (it == m_routing.end() || queryOffset == 0) {
    m_routing[key] = std::move(r);
    return;
  }
  RoutingRecord& old = it->second;
  old.logits = at::cat({old.logits, r.logits}, 0);     // [T_old + T_new, experts]
  old.probs = at::cat({old.probs, r.probs}, 0);        // [T_old + T_new, experts]
  old.chosen = at::cat({old.chosen, r.chosen}, 0);     // [T_old + T_new, k]
  old.weights = at::cat({old.weights, r.weights}, 0);  // [T_old + T_new, k]
}

}  // namespace attnscope
