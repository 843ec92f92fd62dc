#include "attnscope/WeightStore.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"
#include "attnscope/SafetensorsFile.h"

#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif

namespace attnscope {

namespace fs = std::filesystem;

namespace {
std::string shapeString(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

WeightStore WeightStore::open(const std::string& dir) {
  WeightStore store;
  const fs::path d(dir);
  const fs::path single = d / "model.safetensors";
  const fs::path index = d / "model.safetensors.index.json";
  const fs::path bin = d / "pytorch_model.bin";
  if (fs::exists(single)) {
    auto file = SafetensorsFile::open(single.string());
    for (const auto& n : file->names()) store.m_fileOf[n] = file;
    store.m_origin = single.string();
  } else if (fs::exists(index)) {
    nlohmann::json j;
    {
      std::ifstream f(index);
      try {
        j = nlohmann::json::parse(f);
      } catch (const nlohmann::json::exception& e) {
        throw ModelLoadError("'" + index.string() + "' is not valid JSON: " + e.what());
      }
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw ModelLoadError("'" + index.string() + "' lacks the object 'weight_map'");
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw ModelLoadError("'" + index.string() + "': weight_map values must be file names");
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        throw ModelLoadError("'" + index.string() + "': shard name '" + shard + "' must be a file in the same folder");
      auto& file = shards[shard];
      if (!file) {
        if (!fs::exists(d / shard))
          throw ModelLoadError("'" + index.string() + "' names shard '" + shard + "', which does not exist");
        file = SafetensorsFile::open((d / shard).string());
      }
      if (!file->has(it.key()))
        throw ModelLoadError("'" + index.string() + "' maps tensor '" + it.key() + "' to '" + shard +
                             "', which does not contain it");
      store.m_fileOf[it.key()] = file;
    }
    store.m_origin = index.string();
  } else if (fs::exists(bin)) {
    warn("'" + bin.string() +
         "' is a pickled PyTorch file; model.safetensors is preferred (safer, memory-mapped, faster to open)");
    store.m_memory = loadTorchStateDict(bin.string());
    store.m_origin = bin.string();
  } else {
    throw ModelLoadError("model folder '" + dir +
                         "' has no weights: expected model.safetensors, model.safetensors.index.json or "
                         "pytorch_model.bin");
  }
  return store;
}

WeightStore WeightStore::fromTensors(std::map<std::string, at::Tensor> tensors, const std::string& origin) {
  WeightStore store;
  store.m_memory = std::move(tensors);
  store.m_origin = origin;
  return store;
}

bool WeightStore::has(const std::string& name) const { return m_fileOf.count(name) || m_memory.count(name); }

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& kv : m_fileOf) out.push_back(kv.first);
  for (const auto& kv : m_memory) out.push_back(kv.first);
  return out;
}

std::string WeightStore::storedDtype() const {
  for (const auto& kv : m_fileOf) {
    const std::string& dt = kv.second->entry(kv.first).dtype;
    if (dt == "F32" || dt == "F16" || dt == "BF16" || dt == "F64") return dt;
  }
  for (const auto& kv : m_memory)
    if (kv.second.is_floating_point()) return dtypeName(kv.second.scalar_type());
  return "F32";
}

at::Tensor WeightStore::raw(const std::string& name) const {
  auto f = m_fileOf.find(name);
  if (f != m_fileOf.end()) return f->second->tensor(name);
  return m_memory.at(name);
}

at::Tensor WeightStore::takeOptional(const std::string& name, const std::vector<int64_t>& shape,
                                     const at::TensorOptions& options) {
  if (!has(name)) return at::Tensor();
  return take(name, shape, options);
}

namespace {
/// Hands the allocator's free heap memory back to the system (glibc; elsewhere nothing to do).
void returnFreedMemory() {
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}
}  // namespace

at::Tensor WeightStore::take(const std::string& name, const std::vector<int64_t>& shape,
                             const at::TensorOptions& options) {
  if (!has(name)) {
    recordProblem("missing tensor '" + name + "'" + (shape.empty() ? "" : " " + shapeString(shape)));
    return at::Tensor();
  }
  m_used.insert(name);
  at::Tensor t = raw(name);
  bool matches = shape.empty() || t.dim() == static_cast<int64_t>(shape.size());
  for (size_t i = 0; matches && i < shape.size(); ++i) matches = shape[i] < 0 || t.size(static_cast<int64_t>(i)) == shape[i];
  if (!matches) {
    recordProblem("tensor '" + name + "' has shape " + shapeString(t.sizes()) + ", expected " + shapeString(shape));
    return at::Tensor();
  }
  m_parameterCount += t.numel();
  // A copy that owns its memory, in the requested device/dtype (the mapping stays read-only); the mapped pages it
  // was copied from are released at once, so loading never holds the whole file and the whole model together.
  at::Tensor out = t.to(options, /*non_blocking=*/false, /*copy=*/true);  // same shape as stored
  auto f = m_fileOf.find(name);
  if (f != m_fileOf.end()) f->second->releasePages(name);
  // Families transpose or convert what they take and free the copy; glibc keeps such freed blocks in its heap
  // (its mmap threshold grows with them), so without this a 2.4 GB model peaked 0.7 GB higher while loading.
  if (out.nbytes() >= (size_t(1) << 20)) returnFreedMemory();
  return out;
}

void WeightStore::recordProblem(const std::string& problem) {
  m_problems.push_back(problem);
  // A config.json that does not describe these weights (say, ten times the layers) would otherwise have the family
  // walk every tensor it imagines; stop at a screenful.
  constexpr size_t kEnough = 40;
  if (m_problems.size() >= kEnough) {
    m_problems.push_back("... stopped after " + std::to_string(kEnough) +
                         " problems: does config.json describe these weights?");
    finish();
  }
}

void WeightStore::finish() {
  if (!m_problems.empty()) {
    std::string msg = "cannot load weights from '" + m_origin + "':";
    for (const auto& p : m_problems) msg += "\n  - " + p;
    m_problems.clear();
    throw ModelLoadError(msg);
  }
  const auto unusedNames = unused();
  if (!unusedNames.empty()) {
    std::string msg = std::to_string(unusedNames.size()) + " tensor(s) in '" + m_origin + "' are not used by the model:";
    size_t shown = 0;
    for (const auto& n : unusedNames) {
      if (++shown > 20) {
        msg += " ...";
        break;
      }
      msg += " " + n;
    }
    warn(msg);
  }
}

std::vector<std::string> WeightStore::unused() const {
  std::vector<std::string> out;
  for (const auto& n : names())
    if (!m_used.count(n)) out.push_back(n);
  return out;
}

std::string dtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kDouble: return "F64";
    default: return at::toString(type);
  }
}

}  // namespace attnscope
