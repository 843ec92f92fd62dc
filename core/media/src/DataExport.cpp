#include "attnscope/DataExport.h"

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"

namespace attnscope {

std::string encodeNpy(const std::vector<float>& values, int rows, int cols) {
  if (rows < 0 || cols < 0 || values.size() != static_cast<size_t>(rows) * cols)
    throw InputError("npy: " + std::to_string(values.size()) + " values do not make a " + std::to_string(rows) + "×" +
                     std::to_string(cols) + " matrix");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  const size_t at = out.size();
  out.resize(at + values.size() * sizeof(float));
  std::memcpy(&out[at], values.data(), values.size() * sizeof(float));  // little-endian hosts (x86-64, aarch64)
  return out;
}

namespace {
std::string quoted(const std::string& s) {
  if (s.find_first_of(",\"\n\r ") == std::string::npos && !s.empty()) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
std::string field(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? number(j[key].get<double>()) : std::string();
}
}  // namespace

std::string encodeCsv(const std::vector<float>& values, int rows, int cols, const std::vector<std::string>& rowLabels,
                      const std::vector<std::string>& colLabels) {
  if (rows < 0 || cols < 0 || values.size() != static_cast<size_t>(rows) * cols)
    throw InputError("csv: " + std::to_string(values.size()) + " values do not make a " + std::to_string(rows) + "×" +
                     std::to_string(cols) + " matrix");
  std::string out = quoted("query \\ key");
  for (int j = 0; j < cols; ++j) out += "," + quoted(j < static_cast<int>(colLabels.size()) ? colLabels[j] : std::to_string(j));
  out += "\n";
  for (int i = 0; i < rows; ++i) {
    out += quoted(i < static_cast<int>(rowLabels.size()) ? rowLabels[i] : std::to_string(i));
    for (int j = 0; j < cols; ++j) out += "," + number(values[static_cast<size_t>(i) * cols + j]);
    out += "\n";
  }
  return out;
}

std::string comparisonCsv(const std::string& reportJson) {
  nlohmann::json r;
  try {
    r = nlohmann::json::parse(reportJson);
  } catch (const std::exception& e) {
    throw InputError(std::string("comparison report is not JSON: ") + e.what());
  }
  if (r.value("format", "") != "attnscope-compare" || !r.contains("variants"))
    throw InputError("not an AttnScope comparison report (format must be \"attnscope-compare\")");
  std::string out =
      "variant,stack,layer,head,js_mean,js_max,kl_mean,top5_overlap,output_cosine,l2_full,l2_variant,hidden_rel_l2,"
      "seconds_median,time_ratio,flops_ratio,attention_bytes_ratio,logits_kl,top1_agreement\n";
  for (const auto& v : r["variants"]) {
    const auto cost = v.value("cost", nlohmann::json::object());
    const auto mm = v.value("model_metrics", nlohmann::json::object());
    const std::string tail = "," + field(cost, "seconds_median") + "," + field(cost, "time_ratio") + "," +
                             field(cost, "flops_ratio") + "," + field(cost, "attention_bytes_ratio") + "," +
                             field(mm, "logits_kl") + "," + field(mm, "top1_agreement");
    for (const auto& L : v.value("layers", nlohmann::json::array()))
      for (const auto& H : L.value("heads", nlohmann::json::array()))
        out += quoted(v.value("spec", "")) + "," + quoted(L.value("stack", "")) + "," +
               std::to_string(L.value("layer", 0)) + "," + std::to_string(H.value("head", 0)) + "," +
               field(H, "js_mean") + "," + field(H, "js_max") + "," + field(H, "kl_mean") + "," +
               field(H, "top5_overlap") + "," + field(H, "output_cosine") + "," + field(H, "l2_full") + "," +
               field(H, "l2_variant") + "," + field(L, "hidden_rel_l2") + tail + "\n";
  }
  return out;
}

}  // namespace attnscope
