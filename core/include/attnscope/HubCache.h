#pragma once
/// \file HubCache.h
/// Models in the local Hugging Face cache (what `huggingface_hub` downloads): a Hub id such as
/// `Qwen/Qwen2.5-0.5B` or `Qwen/Qwen2.5-0.5B@main` resolves to `<cache>/models--Qwen--Qwen2.5-0.5B/snapshots/<commit>`
/// offline — nothing is ever downloaded. Plain C++ (no torch, no Qt): the CLI and the GUI both use it.

#include <cstdint>
#include <string>
#include <vector>

namespace attnscope {

/// The cache folders searched, in order: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub (only those set).
std::vector<std::string> hubCacheFolders();

/// True when \p spec looks like a Hub id ("org/name", "name", optionally "@revision") rather than a path.
bool looksLikeHubId(const std::string& spec);

/// \p spec when it is an existing folder; else the snapshot folder of the Hub id \p spec in the cache. The revision
/// (after '@', default "main") is a ref under refs/ or a commit hash (or its unique prefix) under snapshots/.
/// Throws ModelLoadError saying what was looked for and every place it looked.
std::string resolveModelFolder(const std::string& spec);

/// One model snapshot in the cache.
struct CachedModel {
  std::string id;          ///< "Qwen/Qwen2.5-0.5B"
  std::string revision;    ///< the ref pointing at it ("main"), or "" when none does
  std::string commit;      ///< the snapshot's folder name
  std::string path;        ///< the snapshot folder
  std::string modelType;   ///< config.json's model_type ("" when unreadable)
  uint64_t bytes = 0;      ///< size of the files the snapshot links to
  bool supported = false;  ///< a registered family handles modelType
};

/// Every model snapshot in every cache folder, sorted by id. \p supportedTypes decides `supported`.
std::vector<CachedModel> listCachedModels(const std::vector<std::string>& supportedTypes);

}  // namespace attnscope
