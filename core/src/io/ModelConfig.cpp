#include "attnscope/ModelConfig.h"

#include <filesystem>
#include <fstream>

#include "attnscope/Errors.h"

namespace attnscope {

namespace fs = std::filesystem;

namespace {
nlohmann::json readJson(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw ConfigError("cannot read '" + path + "'");
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("'" + path + "' is not valid JSON: " + e.what());
  }
}
}  // namespace

ModelConfig ModelConfig::load(const std::string& dir) {
  if (!fs::is_directory(dir)) throw ConfigError("model folder '" + dir + "' does not exist or is not a folder");
  const std::string path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(path))
    throw ConfigError("model folder '" + dir +
                      "' has no config.json (expected a Hugging Face folder: config.json + model.safetensors "
                      "+ tokenizer files)");
  ModelConfig c = fromJson(readJson(path), path);
  c.m_dir = dir;
  const std::string gen = (fs::path(dir) / "generation_config.json").string();
  if (fs::exists(gen)) c.m_generation = readJson(gen);
  return c;
}

ModelConfig ModelConfig::fromJson(nlohmann::json json, const std::string& origin) {
  if (!json.is_object()) throw ConfigError("'" + origin + "' is not a JSON object");
  ModelConfig c;
  c.m_path = origin;
  c.m_json = std::move(json);
  c.m_generation = nlohmann::json::object();
  return c;
}

int64_t ModelConfig::requireInt(const std::string& key) const {
  if (!has(key)) throw ConfigError("'" + m_path + "' lacks the field '" + key + "' (an integer)");
  const auto& v = m_json[key];
  if (!v.is_number_integer()) throw ConfigError("'" + m_path + "': field '" + key + "' must be an integer");
  return v.get<int64_t>();
}

int64_t ModelConfig::optInt(const std::string& key, int64_t fallback) const {
  return has(key) ? requireInt(key) : fallback;
}

int64_t ModelConfig::requireIntIn(const std::string& key, int64_t lo, int64_t hi) const {
  const int64_t v = requireInt(key);
  if (v < lo || v > hi)
    throw ConfigError("'" + m_path + "': field '" + key + "' is " + std::to_string(v) + ", expected " +
                      std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

int64_t ModelConfig::optIntIn(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) const {
  return has(key) ? requireIntIn(key, lo, hi) : fallback;
}

int64_t ModelConfig::requireIntAny(const std::vector<std::string>& keys) const {
  for (const auto& k : keys)
    if (has(k)) return requireInt(k);
  std::string names;
  for (const auto& k : keys) names += (names.empty() ? "'" : " or '") + k + "'";
  throw ConfigError("'" + m_path + "' lacks the field " + names + " (an integer)");
}

double ModelConfig::requireDouble(const std::string& key) const {
  if (!has(key)) throw ConfigError("'" + m_path + "' lacks the field '" + key + "' (a number)");
  const auto& v = m_json[key];
  if (!v.is_number()) throw ConfigError("'" + m_path + "': field '" + key + "' must be a number");
  return v.get<double>();
}

double ModelConfig::optDouble(const std::string& key, double fallback) const {
  return has(key) ? requireDouble(key) : fallback;
}

std::string ModelConfig::requireString(const std::string& key) const {
  if (!has(key)) throw ConfigError("'" + m_path + "' lacks the field '" + key + "' (a string)");
  const auto& v = m_json[key];
  if (!v.is_string()) throw ConfigError("'" + m_path + "': field '" + key + "' must be a string");
  return v.get<std::string>();
}

std::string ModelConfig::optString(const std::string& key, const std::string& fallback) const {
  return has(key) ? requireString(key) : fallback;
}

bool ModelConfig::optBool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = m_json[key];
  if (!v.is_boolean()) throw ConfigError("'" + m_path + "': field '" + key + "' must be true or false");
  return v.get<bool>();
}

std::vector<std::string> ModelConfig::id2label() const {
  std::vector<std::string> out;
  if (!has("id2label")) return out;
  const auto& m = m_json["id2label"];
  if (!m.is_object()) throw ConfigError("'" + m_path + "': id2label must be an object");
  out.resize(m.size());
  for (auto it = m.begin(); it != m.end(); ++it) {
    size_t idx = 0;
    try {
      idx = std::stoul(it.key());
    } catch (...) {
      throw ConfigError("'" + m_path + "': id2label key '" + it.key() + "' is not an integer");
    }
    if (idx >= out.size()) out.resize(idx + 1);
    out[idx] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
  }
  return out;
}

std::string ModelConfig::architecture() const {
  if (!has("architectures") || !m_json["architectures"].is_array() || m_json["architectures"].empty()) return "";
  const auto& a = m_json["architectures"][0];
  return a.is_string() ? a.get<std::string>() : "";
}

}  // namespace attnscope
