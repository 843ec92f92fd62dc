#include "attnscope/Variant.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include <cmath>

#include <limits>
#include <sstream>

#include "attnscope/Errors.h"

namespace attnscope {

AttentionCost denseAttentionCost(int64_t heads, int64_t tq, int64_t tk, int64_t headDim) {
  const double entries = static_cast<double>(heads) * tq * tk;
  return {entries * (4.0 * headDim + 3.0), entries * 4.0};
}

// ---- spec strings ----------------------------------------------------------------------------------------

void VariantSpec::fail(const std::string& what) const { throw InputError("variant '" + text + "': " + what); }

int64_t VariantSpec::integer(const std::string& key, int64_t fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != it->second.size()) fail(key + "='" + it->second + "' is not an integer");
  return v;
}

double VariantSpec::number(const std::string& key, double fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(it->second, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != it->second.size() || !std::isfinite(v)) fail(key + "='" + it->second + "' is not a number");
  return v;
}

std::string VariantSpec::textValue(const std::string& key, const std::string& fallback) const {
  auto it = values.find(key);
  return it == values.end() ? fallback : it->second;
}

std::vector<std::string> VariantSpec::list(const std::string& key) const {
  std::vector<std::string> out;
  auto it = values.find(key);
  if (it == values.end()) return out;
  std::stringstream ss(it->second);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

namespace {
std::map<std::string, VariantKind>& registry() {
  static std::map<std::string, VariantKind> r;
  return r;
}

std::string knownNames() {
  std::string s;
  for (const auto& kv : registry()) s += (s.empty() ? "" : ", ") + kv.first;
  return s;
}
}  // namespace

const std::map<std::string, VariantKind>& variantKinds() { return registry(); }

RegisterVariant::RegisterVariant(VariantKind kind) {
  const std::string name = kind.name;
  registry()[name] = std::move(kind);
}

VariantSpec parseVariantSpec(const std::string& text) {
  VariantSpec s;
  s.text = text;
  const size_t colon = text.find(':');
  s.name = text.substr(0, colon);
  if (s.name.empty()) throw InputError("variant '" + text + "': no name (known variants: " + knownNames() + ")");
  auto kind = registry().find(s.name);
  if (kind == registry().end())
    throw InputError("variant '" + text + "': unknown variant '" + s.name + "' (known variants: " + knownNames() + ")");
  if (colon == std::string::npos) return s;
  const std::string rest = text.substr(colon + 1);
  if (rest.empty()) s.fail("nothing after ':'");
  std::stringstream ss(rest);
  std::string item, lastList;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) s.fail("empty parameter (two commas in a row?)");
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      auto p = kind->second.params.find(item);
      if (p != kind->second.params.end() && p->second == ParamType::Flag) {
        s.values[item] = "1";
        lastList.clear();
      } else if (!lastList.empty()) {
        s.values[lastList] += "," + item;
      } else {
        s.fail("'" + item + "' is neither key=value nor a known flag");
      }
      continue;
    }
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    auto p = kind->second.params.find(key);
    if (p == kind->second.params.end()) {
      std::string known;
      for (const auto& kv : kind->second.params) known += (known.empty() ? "" : ", ") + kv.first;
      s.fail("unknown parameter '" + key + "' (" + s.name + " takes: " + (known.empty() ? "none" : known) + ")");
    }
    if (p->second == ParamType::Flag) s.fail("'" + key + "' is a flag; write it without '='");
    if (value.empty()) s.fail("missing value for '" + key + "'");
    if (s.values.count(key)) s.fail("'" + key + "' given twice");
    s.values[key] = value;
    lastList = p->second == ParamType::List ? key : std::string();
  }
  // Type check now, so that a bad number is reported before any model runs.
  for (const auto& [key, value] : s.values) {
    switch (kind->second.params.at(key)) {
      case ParamType::Int: s.integer(key, 0); break;
      case ParamType::Double: s.number(key, 0); break;
      default: break;
    }
  }
  return s;
}

std::unique_ptr<AttentionVariant> makeVariant(const std::string& text) {
  const VariantSpec spec = parseVariantSpec(text);
  std::unique_ptr<AttentionVariant> v = registry().at(spec.name).factory(spec);
  v->m_spec = text;
  return v;
}

// ---- helpers ---------------------------------------------------------------------------------------------

at::Tensor queryPositions(const VariantCall& call, int64_t tq, const c10::Device& device) {
  return at::arange(call.past, call.past + tq, at::TensorOptions().dtype(at::kLong).device(device));  // [q]
}

at::Tensor baseForbidden(const VariantCall& call, int64_t tq, int64_t tk, const c10::Device& device) {
  at::Tensor forbidden =
      at::zeros({tq, tk}, at::TensorOptions().dtype(at::kBool).device(device));  // [q, k]
  if (call.causal && tk > 1) forbidden = at::ones({tq, tk}, forbidden.options()).triu_(call.past + 1);  // [q, k]
  if (call.slidingWindow > 0)
    forbidden = forbidden.logical_or(at::ones({tq, tk}, forbidden.options()).tril_(call.past - call.slidingWindow));
  if (call.keyPaddingMask.defined()) forbidden = forbidden.logical_or(call.keyPaddingMask.view({1, tk}));  // [q, k]
  return forbidden;
}

void MaskVariant::editScores(const VariantCall& call, at::Tensor& scores, const at::Tensor& q,
                             const at::Tensor& k) const {
  scores.masked_fill_(allowed(call, q, k).logical_not(), -std::numeric_limits<float>::infinity());
}

AttentionCost MaskVariant::cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const {
  const int64_t heads = q.size(0), tq = q.size(1), tk = k.size(1), d = q.size(2);
  at::Tensor a = allowed(call, q, k).logical_and(baseForbidden(call, tq, tk, q.device()).logical_not());
  double nnz = static_cast<double>(a.sum().item<int64_t>());
  if (a.dim() < 3 || a.size(0) == 1) nnz *= heads;
  return {nnz * (4.0 * d + 3.0), nnz * 4.0};
}

}  // namespace attnscope
