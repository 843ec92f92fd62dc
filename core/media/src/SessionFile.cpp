#include "attnscope/SessionFile.h"

#include <ATen/ops/from_blob.h>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"
#include "attnscope/SafetensorsFile.h"
#include "OnDemandSource.h"

namespace attnscope {

namespace {
constexpr int kSessionVersion = 1;

std::string tensorName(const std::string& prefix, const std::string& stack, int layer) {
  return prefix + stack + "/" + std::to_string(layer);
}

/// Adds \p c's matrices under \p prefix and returns its description for the metadata.
nlohmann::json addCapture(SafetensorsWriter& w, const CaptureResult& c, const std::string& prefix) {
  const auto* qk = dynamic_cast<const OnDemandSource*>(c.source.get());
  if (c.onDemand() && !qk) throw InputError("this capture's on-demand attention cannot be stored in a session");
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& a : c.layers) {
    if (a.onDemand) {  // a long input's layer: its queries, keys and row log-sum-exp, as a capture file keeps them
      const QueryKeyLayer& q = qk->find(a.stack, a.layer);
      for (const auto& [what, t] : queryKeyTensors(q)) w.add(tensorName(prefix, a.stack, a.layer) + "/" + what, t);
      layers.push_back({{"stack", a.stack}, {"layer", a.layer}, {"heads", a.headIndex}, {"qk", queryKeyMetadata(q)}});
      continue;
    }
    const at::Tensor t = at::from_blob(const_cast<float*>(a.data.data()), {a.heads, a.q, a.k}, at::kFloat);  // [heads, q, k]
    w.add(tensorName(prefix, a.stack, a.layer), t);
    layers.push_back({{"stack", a.stack}, {"layer", a.layer}, {"heads", a.headIndex}});
  }
  return {{"stacks", c.stacks},
          {"query_labels", c.stackQueryLabels},
          {"key_labels", c.stackKeyLabels},
          {"variant", c.variant},
          {"prediction_json", c.predictionJson},
          {"prediction_text", c.predictionText},
          {"seconds", c.seconds},
          {"layers", layers}};
}

/// An integer field in [lo, hi]; a float, a string or a number out of range is an InputError naming it (never a
/// conversion of an out-of-range double).
int intIn(const nlohmann::json& v, const std::string& what, int64_t lo, int64_t hi, const std::string& path) {
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    throw InputError("'" + path + "': " + what + ": expected an integer in " + std::to_string(lo) + ".." +
                     std::to_string(hi) + ", got " + v.dump().substr(0, 40));
  return static_cast<int>(v.get<int64_t>());
}

CaptureResult readCapture(const SafetensorsFile& file, const nlohmann::json& d, const std::string& prefix,
                          const std::string& path) {
  CaptureResult c;
  c.stacks = d.at("stacks").get<std::vector<std::string>>();
  c.stackQueryLabels = d.at("query_labels").get<std::vector<std::vector<std::string>>>();
  c.stackKeyLabels = d.at("key_labels").get<std::vector<std::vector<std::string>>>();
  if (c.stacks.empty() || c.stackQueryLabels.size() != c.stacks.size() || c.stackKeyLabels.size() != c.stacks.size())
    throw InputError("'" + path + "': capture '" + prefix + "' has inconsistent stacks and labels");
  c.variant = d.value("variant", "");
  c.predictionJson = d.value("prediction_json", "");
  c.predictionText = d.value("prediction_text", "");
  c.seconds = d.value("seconds", 0.0);
  OnDemandSource::Layers qkLayers;
  for (const auto& L : d.at("layers")) {
    AttentionMatrix a;
    a.stack = L.at("stack").get<std::string>();
    a.layer = intIn(L.at("layer"), prefix + " layer", 0, 1 << 16, path);
    for (const auto& h : L.at("heads")) a.headIndex.push_back(intIn(h, prefix + " head", 0, 1 << 16, path));
    const std::string name = tensorName(prefix, a.stack, a.layer);
    const auto si = std::find(c.stacks.begin(), c.stacks.end(), a.stack) - c.stacks.begin();
    if (si == static_cast<long>(c.stacks.size()))
      throw InputError("'" + path + "': layer " + std::to_string(a.layer) + " of '" + a.stack.substr(0, 40) +
                       "' is not in one of the capture's stacks");
    if (L.contains("qk")) {  // queries and keys of a long input: cells computed on demand
      std::vector<int> heads = a.headIndex;
      if (heads.empty()) throw InputError("'" + path + "': '" + name + "' lists no heads");
      QueryKeyLayer q = readQueryKeyLayer(
          L["qk"], heads,
          [&](const std::string& what) { return file.has(name + "/" + what) ? file.tensor(name + "/" + what) : at::Tensor(); },
          "'" + path + "': '" + name + "': ");
      if (c.stackQueryLabels[si].size() != static_cast<size_t>(q.rows()) ||
          c.stackKeyLabels[si].size() != static_cast<size_t>(q.cols()))
        throw InputError("'" + path + "': '" + name + "' does not match the labels of stack '" + a.stack + "'");
      a.heads = static_cast<int>(heads.size());
      a.q = static_cast<int>(q.rows());
      a.k = static_cast<int>(q.cols());
      a.onDemand = true;
      qkLayers[{a.stack, a.layer}] = std::move(q);
      c.layers.push_back(std::move(a));
      continue;
    }
    if (!file.has(name)) throw InputError("'" + path + "': tensor '" + name + "' is missing");
    const at::Tensor t = file.tensor(name).to(at::kFloat).contiguous();  // [heads, q, k]
    if (t.dim() != 3 || t.size(0) != static_cast<int64_t>(a.headIndex.size()))
      throw InputError("'" + path + "': tensor '" + name + "' is not [" + std::to_string(a.headIndex.size()) +
                       " heads, q, k]");
    a.heads = static_cast<int>(t.size(0));
    a.q = static_cast<int>(t.size(1));
    a.k = static_cast<int>(t.size(2));
    if (c.stackQueryLabels[si].size() != static_cast<size_t>(a.q) ||
        c.stackKeyLabels[si].size() != static_cast<size_t>(a.k))
      throw InputError("'" + path + "': tensor '" + name + "' does not match the labels of stack '" + a.stack + "'");
    a.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    c.layers.push_back(std::move(a));
  }
  if (!qkLayers.empty()) c.source = std::make_shared<OnDemandSource>(std::move(qkLayers));
  c.queryLabels = c.stackQueryLabels.front();
  c.keyLabels = c.stackKeyLabels.front();
  return c;
}
}  // namespace

std::string encodeSession(const SessionData& session) {
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(session.stateJson.empty() ? "{}" : session.stateJson);
  } catch (const std::exception& e) {
    throw InputError(std::string("session state is not JSON: ") + e.what());
  }
  if (!state.is_object()) throw InputError("session state must be a JSON object");
  SafetensorsWriter w;
  nlohmann::json doc = {{"version", kSessionVersion}, {"state", state}};
  if (session.capture) doc["capture"] = addCapture(w, *session.capture, "capture/");
  if (session.comparison) {
    const ComparisonResult& r = *session.comparison;
    nlohmann::json panels = nlohmann::json::array();
    for (size_t i = 0; i < r.panels.size(); ++i) {
      const VariantPanel& p = r.panels[i];
      const std::string prefix = "compare/" + std::to_string(i) + "/";
      nlohmann::json d = addCapture(w, p.capture, prefix);
      d["spec"] = p.spec;
      d["numbers"] = {{"seconds", p.seconds},         {"time_ratio", p.timeRatio},
                      {"flops_ratio", p.flopsRatio},  {"memory_ratio", p.memoryRatio},
                      {"mean_js", p.meanJs},          {"top1_agreement", p.top1Agreement},
                      {"logits_kl", p.logitsKl}};
      if (!p.jsGrid.empty())
        w.add(prefix + "js_grid",
              at::from_blob(const_cast<float*>(p.jsGrid.data()), {r.layers, r.heads}, at::kFloat));  // [layers, heads]
      panels.push_back(d);
    }
    doc["comparison"] = {{"layers", r.layers}, {"heads", r.heads}, {"report", r.reportJson}, {"panels", panels}};
  }
  w.setMetadata("attnscope_session", doc.dump());
  return w.bytes();
}

SessionData readSession(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file;
  try {
    file = SafetensorsFile::open(path);
  } catch (const SafetensorsError& e) {
    throw InputError(std::string("session: ") + e.what());
  }
  auto it = file->metadata().find("attnscope_session");
  if (it == file->metadata().end()) throw InputError("'" + path + "' is not an AttnScope session (.attnscope)");
  SessionData out;
  try {
    const nlohmann::json doc = nlohmann::json::parse(it->second);
    const int version = doc.contains("version") ? intIn(doc["version"], "version", 0, 1 << 20, path) : 0;
    if (version < 1 || version > kSessionVersion)
      throw InputError("'" + path + "': session version " + std::to_string(version) + " is not supported (this build "
                       "reads version " + std::to_string(kSessionVersion) + ")");
    out.stateJson = doc.at("state").dump();
    if (doc.contains("capture"))
      out.capture = std::make_shared<CaptureResult>(readCapture(*file, doc["capture"], "capture/", path));
    if (doc.contains("comparison")) {
      const auto& d = doc["comparison"];
      auto r = std::make_shared<ComparisonResult>();
      r->layers = intIn(d.at("layers"), "comparison layers", 0, 1 << 16, path);
      r->heads = intIn(d.at("heads"), "comparison heads", 0, 1 << 16, path);
      r->reportJson = d.value("report", "");
      const auto& panels = d.at("panels");
      for (size_t i = 0; i < panels.size(); ++i) {
        const std::string prefix = "compare/" + std::to_string(i) + "/";
        VariantPanel p;
        p.capture = readCapture(*file, panels[i], prefix, path);
        p.spec = panels[i].at("spec").get<std::string>();
        const auto& n = panels[i].at("numbers");
        p.seconds = n.value("seconds", 0.0);
        p.timeRatio = n.value("time_ratio", 1.0);
        p.flopsRatio = n.value("flops_ratio", 1.0);
        p.memoryRatio = n.value("memory_ratio", 1.0);
        p.meanJs = n.value("mean_js", 0.0);
        p.top1Agreement = n.value("top1_agreement", 1.0);
        p.logitsKl = n.value("logits_kl", 0.0);
        if (file->has(prefix + "js_grid")) {
          const at::Tensor g = file->tensor(prefix + "js_grid").to(at::kFloat).contiguous();  // [layers, heads]
          if (g.numel() != static_cast<int64_t>(r->layers) * r->heads)
            throw InputError("'" + path + "': '" + prefix + "js_grid' is not [layers, heads]");
          p.jsGrid.assign(g.data_ptr<float>(), g.data_ptr<float>() + g.numel());
        }
        r->panels.push_back(std::move(p));
      }
      if (r->panels.empty()) throw InputError("'" + path + "': the comparison has no panels");
      out.comparison = r;
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError("'" + path + "': unreadable session metadata: " + e.what());
  }
  return out;
}

}  // namespace attnscope
