#include "attnscope/Errors.h"
#include "attnscope/Model.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {

ModelRegistry& ModelRegistry::instance() {
  static ModelRegistry registry;
  return registry;
}

void ModelRegistry::add(ModelFamily family) {
  const std::string key = family.modelType;
  m_families[key] = std::move(family);
}

const ModelFamily& ModelRegistry::get(const std::string& modelType, const std::string& configPath) const {
  auto it = m_families.find(modelType);
  if (it == m_families.end()) {
    std::string list;
    for (const auto& t : modelTypes()) list += (list.empty() ? "" : ", ") + t;
    throw ModelLoadError("'" + configPath + "': model_type '" + modelType + "' is not supported (supported: " + list +
                         ")");
  }
  return it->second;
}

const ModelFamily& ModelRegistry::familyFor(const ModelConfig& config) const {
  if (config.json().contains("model_type")) return get(config.modelType(), config.path());
  for (const auto& kv : m_families)
    if (kv.second.recognises && kv.second.recognises(config)) return kv.second;
  std::string list;
  for (const auto& t : modelTypes()) list += (list.empty() ? "" : ", ") + t;
  throw ConfigError("'" + config.path() + "' has no \"model_type\" and describes no architecture AttnScope knows (supported: " +
                    list + ")");
}

std::vector<std::string> ModelRegistry::modelTypes() const {
  std::vector<std::string> out;
  for (const auto& kv : m_families) out.push_back(kv.first);
  return out;
}

}  // namespace attnscope
