#include "attnscope/HubCache.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"

namespace attnscope {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::string();
}

/// "Qwen/Qwen2.5-0.5B" -> "models--Qwen--Qwen2.5-0.5B" (huggingface_hub's repo folder name).
std::string repoFolderName(const std::string& id) {
  std::string out = "models--";
  for (char c : id) {
    if (c == '/') out += "--";
    else out += c;
  }
  return out;
}

std::string readRef(const fs::path& file) {
  std::ifstream f(file);
  std::string s;
  std::getline(f, s);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

std::vector<std::string> snapshotNames(const fs::path& repo) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(repo / "snapshots", ec))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t folderBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code sizeEc;
    if (fs::is_regular_file(it->path(), sizeEc)) {  // follows the snapshot's links into blobs/
      const auto n = fs::file_size(it->path(), sizeEc);
      if (!sizeEc) total += n;
    }
  }
  return total;
}

}  // namespace

std::vector<std::string> hubCacheFolders() {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  add(env("HF_HUB_CACHE"));
  add(env("HUGGINGFACE_HUB_CACHE"));  // the older name of the same setting
  if (!env("HF_HOME").empty()) add(env("HF_HOME") + "/hub");
  if (!env("XDG_CACHE_HOME").empty()) add(env("XDG_CACHE_HOME") + "/huggingface/hub");
  if (!env("HOME").empty()) add(env("HOME") + "/.cache/huggingface/hub");
  return out;
}

bool looksLikeHubId(const std::string& spec) {
  if (spec.empty() || spec[0] == '/' || spec[0] == '.' || spec[0] == '~') return false;
  const std::string id = spec.substr(0, spec.find('@'));
  if (id.empty() || id.back() == '/' || std::count(id.begin(), id.end(), '/') > 1) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  return id.find("..") == std::string::npos;
}

std::string resolveModelFolder(const std::string& spec) {
  std::error_code ec;
  if (fs::is_directory(spec, ec) || !looksLikeHubId(spec)) return spec;
  const size_t at = spec.find('@');
  const std::string id = spec.substr(0, at);
  const std::string revision = at == std::string::npos ? "main" : spec.substr(at + 1);
  if (revision.empty() || revision.find('/') != std::string::npos || revision.find("..") != std::string::npos)
    throw ModelLoadError("Hub id '" + spec + "': the revision after '@' must be a branch, tag or commit");
  const std::vector<std::string> caches = hubCacheFolders();
  std::string looked, found;
  for (const auto& cache : caches) {
    const fs::path repo = fs::path(cache) / repoFolderName(id);
    looked += "\n  - " + repo.string();
    if (!fs::is_directory(repo, ec)) continue;
    // A ref (branch or tag) names a commit; else the revision is a commit (or a unique prefix of one).
    std::string commit;
    if (fs::is_regular_file(repo / "refs" / revision, ec)) commit = readRef(repo / "refs" / revision);
    const std::vector<std::string> snapshots = snapshotNames(repo);
    if (commit.empty()) {
      std::vector<std::string> matches;
      for (const auto& s : snapshots)
        if (s == revision || (revision.size() >= 7 && s.compare(0, revision.size(), revision) == 0)) matches.push_back(s);
      if (matches.size() == 1) commit = matches[0];
    }
    if (!commit.empty() && fs::is_directory(repo / "snapshots" / commit, ec))
      return (repo / "snapshots" / commit).string();
    std::string have;
    for (const auto& s : snapshots) have += (have.empty() ? "" : ", ") + s;
    found += "\n  " + repo.string() + " has no snapshot for revision '" + revision + "'" +
             (have.empty() ? " (no snapshots)" : " (snapshots: " + have + ")");
  }
  if (!found.empty()) throw ModelLoadError("Hub id '" + spec + "' is in the local Hugging Face cache, but:" + found);
  throw ModelLoadError("'" + spec + "' is neither a model folder nor a model in the local Hugging Face cache " +
                       "(nothing is downloaded; fetch it first, e.g. `huggingface-cli download " + id + "`). " +
                       (caches.empty() ? std::string("No cache folder is set (HF_HUB_CACHE, HF_HOME, HOME).")
                                       : "Looked in:" + looked));
}

std::vector<CachedModel> listCachedModels(const std::vector<std::string>& supportedTypes) {
  std::vector<CachedModel> out;
  std::error_code ec;
  for (const auto& cache : hubCacheFolders()) {
    for (const auto& e : fs::directory_iterator(cache, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory() || name.rfind("models--", 0) != 0) continue;
      std::string id = name.substr(8);
      const size_t sep = id.find("--");
      if (sep != std::string::npos) id.replace(sep, 2, "/");
      for (const auto& commit : snapshotNames(e.path())) {
        CachedModel m;
        m.id = id;
        m.commit = commit;
        m.path = (e.path() / "snapshots" / commit).string();
        std::error_code refEc;
        for (const auto& ref : fs::directory_iterator(e.path() / "refs", refEc))
          if (ref.is_regular_file() && readRef(ref.path()) == commit)
            m.revision += (m.revision.empty() ? "" : ",") + ref.path().filename().string();
        std::ifstream cfg(m.path + "/config.json");
        if (cfg) {
          const nlohmann::json j = nlohmann::json::parse(cfg, nullptr, /*allow_exceptions=*/false);
          if (j.is_object() && j.contains("model_type") && j["model_type"].is_string())
            m.modelType = j["model_type"].get<std::string>();
        }
        m.supported = std::find(supportedTypes.begin(), supportedTypes.end(), m.modelType) != supportedTypes.end();
        m.bytes = folderBytes(m.path);
        out.push_back(std::move(m));
      }
    }
    ec.clear();
  }
  std::sort(out.begin(), out.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.id != b.id ? a.id < b.id : a.commit < b.commit; });
  return out;
}

}  // namespace attnscope
