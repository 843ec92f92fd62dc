#pragma once
// Helpers shared by the tokenizer implementations (not part of the public API).

#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "attnscope/Tokenizer.h"

namespace attnscope {

/// Reads a JSON file; throws TokenizerError naming it.
nlohmann::json readTokenizerJson(const std::string& path);
/// Human-readable form of raw bytes: valid UTF-8 shown as text (newline as "\n", tab as "\t"),
/// other bytes as "<0xHH>".
std::string displayBytes(const std::string& bytes);
/// Splits \p word (UTF-8) into characters and applies BPE merges by rank ("a b" -> rank), lowest first.
std::vector<std::string> bpeMerge(const std::string& word, const std::unordered_map<std::string, int>& ranks);
/// Parses a tokenizer.json TemplateProcessing post-processor into \p single / \p pair
/// (special token names resolved with \p idOf). Returns false when there is none.
bool parseTemplateProcessing(const nlohmann::json& postProcessor, const Tokenizer& tok,
                             std::vector<Tokenizer::TemplatePart>& single, std::vector<Tokenizer::TemplatePart>& pair);

}  // namespace attnscope
