#pragma once
/// \file ModelConfig.h
/// A Hugging Face config.json (+ generation_config.json) with typed accessors
/// whose errors name the file and the field.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attnscope {

/// Parsed config.json of a model folder.
class ModelConfig {
 public:
  /// Reads DIR/config.json and, when present, DIR/generation_config.json. Throws ConfigError.
  static ModelConfig load(const std::string& dir);
  /// Builds a config from JSON already in memory (\p origin names it in errors).
  static ModelConfig fromJson(nlohmann::json json, const std::string& origin);

  const std::string& dir() const { return m_dir; }
  const std::string& path() const { return m_path; }
  const nlohmann::json& json() const { return m_json; }
  const nlohmann::json& generation() const { return m_generation; }

  /// HF model_type (required).
  std::string modelType() const { return requireString("model_type"); }
  bool has(const std::string& key) const { return m_json.contains(key) && !m_json[key].is_null(); }

  int64_t requireInt(const std::string& key) const;
  int64_t optInt(const std::string& key, int64_t fallback) const;
  /// requireInt() checked to lie in [\p lo, \p hi]: every count that sizes a tensor or bounds a loop goes through
  /// here, so that a damaged file is refused before anything is allocated (ConfigError naming the field).
  int64_t requireIntIn(const std::string& key, int64_t lo, int64_t hi) const;
  /// optInt() checked like requireIntIn().
  int64_t optIntIn(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) const;
  /// First present key among \p keys (HF renames fields across families, e.g. n_embd / hidden_size).
  int64_t requireIntAny(const std::vector<std::string>& keys) const;
  double requireDouble(const std::string& key) const;
  double optDouble(const std::string& key, double fallback) const;
  std::string requireString(const std::string& key) const;
  std::string optString(const std::string& key, const std::string& fallback) const;
  bool optBool(const std::string& key, bool fallback) const;
  /// id2label as a dense vector (empty when absent).
  std::vector<std::string> id2label() const;
  /// First entry of "architectures", or "".
  std::string architecture() const;

 private:
  std::string m_dir, m_path;
  nlohmann::json m_json, m_generation;
};

}  // namespace attnscope
