// `graph:adj=FILE.json`: graph attention — query i may attend only to itself and its neighbours in a
// user-supplied adjacency list, as in graph attention networks (Veličković et al. 2018).
// Accepted files: [[1,2],[0],...] (list per position), {"0":[1,2],...} or {"edges":[[i,j],...]}.
#include <ATen/TensorOperators.h>
#include <ATen/ops/zeros.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"
#include "attnscope/AttentionCapture.h"
#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class GraphVariant : public MaskVariant {
 public:
  GraphVariant(std::string spec, std::string path, std::vector<std::vector<int64_t>> adj)
      : m_text(std::move(spec)), m_path(std::move(path)), m_adj(std::move(adj)) {}

  at::Tensor allowed(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    const int64_t tq = q.size(1), tk = k.size(1);
    at::Tensor a = at::zeros({tq, tk}, at::TensorOptions().dtype(at::kBool));  // [q, k]
    auto acc = a.accessor<bool, 2>();
    for (int64_t i = 0; i < tq; ++i) {
      const int64_t node = call.past + i;
      if (node < tk) acc[i][node] = true;  // self loop
      if (node >= static_cast<int64_t>(m_adj.size())) continue;
      for (int64_t j : m_adj[node]) {
        if (j >= tk)
          throw InputError("variant '" + m_text + "': node " + std::to_string(node) + " in '" + m_path +
                           "' has neighbour " + std::to_string(j) + " but the input has " + std::to_string(tk) +
                           " positions");
        acc[i][j] = true;
      }
    }
    return a.to(q.device());
  }

 private:
  std::string m_text, m_path;
  std::vector<std::vector<int64_t>> m_adj;
};

std::vector<std::vector<int64_t>> readAdjacency(const VariantSpec& s, const std::string& path) {
  std::ifstream in(path);
  if (!in) s.fail("cannot open adjacency file '" + path + "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    s.fail("'" + path + "' is not valid JSON: " + e.what());
  }
  std::vector<std::vector<int64_t>> adj;
  auto node = [&](const nlohmann::json& v, const std::string& where) -> int64_t {
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      s.fail("'" + path + "': " + where + " must be a non-negative integer position");
    return v.get<int64_t>();
  };
  auto addEdge = [&](int64_t i, int64_t k) {
    if (static_cast<int64_t>(adj.size()) <= i) adj.resize(i + 1);
    adj[i].push_back(k);
  };
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_array()) s.fail("'" + path + "': entry " + std::to_string(i) + " must be a list of positions");
      adj.resize(std::max(adj.size(), i + 1));
      for (const auto& v : j[i]) addEdge(static_cast<int64_t>(i), node(v, "neighbour of " + std::to_string(i)));
    }
  } else if (j.is_object() && j.contains("edges")) {
    for (const auto& e : j["edges"]) {
      if (!e.is_array() || e.size() != 2) s.fail("'" + path + "': every edge must be [query, key]");
      addEdge(node(e[0], "edge query"), node(e[1], "edge key"));
    }
  } else if (j.is_object()) {
    for (const auto& [key, list] : j.items()) {
      int64_t i = -1;
      if (!parseNonNegativeInt(key, &i)) s.fail("'" + path + "': key '" + key + "' is not a position");
      if (!list.is_array()) s.fail("'" + path + "': neighbours of " + key + " must be a list");
      for (const auto& v : list) addEdge(i, node(v, "neighbour of " + key));
    }
  } else {
    s.fail("'" + path + "' must hold a list of neighbour lists, an object of them, or {\"edges\": [[i,j],...]}");
  }
  return adj;
}

const RegisterVariant reg({"graph", "attend only to neighbours in an adjacency list (adj=FILE.json)",
                           {{"adj", ParamType::Text}},
                           [](const VariantSpec& s) {
                             if (!s.has("adj")) s.fail("missing adj=FILE.json (the adjacency list)");
                             const std::string path = s.textValue("adj", "");
                             return std::make_unique<GraphVariant>(s.text, path, readAdjacency(s, path));
                           }});

}  // namespace
}  // namespace attnscope
