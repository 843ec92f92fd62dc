#include "attnscope/Tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "ByteLevelBpeTokenizer.h"
#include "SentencePieceBpeTokenizer.h"
#include "TokenizerUtil.h"
#include <climits>
#include <cstdio>
#include "Unicode.h"
#include "WordPieceTokenizer.h"
#include "attnscope/Errors.h"

namespace attnscope {

namespace fs = std::filesystem;

nlohmann::json readTokenizerJson(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw TokenizerError("cannot read '" + path + "'");
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError("'" + path + "' is not valid JSON: " + e.what());
  }
}

std::string displayBytes(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    // Find the longest valid UTF-8 character starting at i.
    size_t len = 0;
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) len = 1;
    else if ((c & 0xE0) == 0xC0) len = 2;
    else if ((c & 0xF0) == 0xE0) len = 3;
    else if ((c & 0xF8) == 0xF0) len = 4;
    if (len && i + len <= bytes.size() && unicode::isValidUtf8(bytes.substr(i, len))) {
      const std::string ch = bytes.substr(i, len);
      if (ch == "\n") out += "\\n";
      else if (ch == "\t") out += "\\t";
      else if (ch == "\r") out += "\\r";
      else if (len == 1 && c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", c);
        out += buf;
      } else out += ch;
      i += len;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", c);
      out += buf;
      ++i;
    }
  }
  return out;
}

std::vector<std::string> bpeMerge(const std::string& word, const std::unordered_map<std::string, int>& ranks) {
  std::vector<std::string> parts;
  for (char32_t c : unicode::decodeUtf8(word)) parts.push_back(unicode::encodeUtf8(c));
  while (parts.size() > 1) {
    int best = INT_MAX;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = ranks.find(parts[i] + " " + parts[i + 1]);
      if (it != ranks.end()) best = std::min(best, it->second);
    }
    if (best == INT_MAX) break;
    std::vector<std::string> merged;  // merge every occurrence of the best pair, left to right
    for (size_t i = 0; i < parts.size();) {
      auto it = i + 1 < parts.size() ? ranks.find(parts[i] + " " + parts[i + 1]) : ranks.end();
      if (it != ranks.end() && it->second == best) {
        merged.push_back(parts[i] + parts[i + 1]);
        i += 2;
      } else {
        merged.push_back(parts[i++]);
      }
    }
    parts.swap(merged);
  }
  return parts;
}

namespace {
std::unique_ptr<Tokenizer> loadTokenizer(const std::string& dir);

/// The file the tokenizer of \p dir is read from (the order loadTokenizer() tries them in), for messages.
std::string tokenizerSource(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "vocab.txt", "vocab.json"})
    if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  return dir;
}
}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& dir) {
  // A value of the wrong JSON type anywhere in the tokenizer files is the file's fault, not ours.
  try {
    return loadTokenizer(dir);
  } catch (const TokenizerError& e) {
    const std::string what = e.what();
    if (what.find(dir) != std::string::npos) throw;
    throw TokenizerError("'" + tokenizerSource(dir) + "': " + what);
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError("'" + tokenizerSource(dir) + "' holds a value of the wrong type: " + e.what());
  }
}

namespace {
std::unique_ptr<Tokenizer> loadTokenizer(const std::string& dir) {
  const fs::path d(dir);
  nlohmann::json config = nlohmann::json::object();
  if (fs::exists(d / "tokenizer_config.json")) config = readTokenizerJson((d / "tokenizer_config.json").string());
  if (fs::exists(d / "tokenizer.json")) {
    const std::string path = (d / "tokenizer.json").string();
    nlohmann::json j = readTokenizerJson(path);
    if (!j.contains("model") || !j["model"].is_object() || !j["model"].contains("type"))
      throw TokenizerError("'" + path + "' lacks model.type");
    const std::string type = j["model"]["type"].get<std::string>();
    if (type == "WordPiece") return WordPieceTokenizer::fromTokenizerJson(j, config, path);
    if (type == "BPE") {
      const bool byteFallback = j["model"].value("byte_fallback", false);
      const std::string pre = j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object()
                                  ? j["pre_tokenizer"].value("type", "")
                                  : "";
      if (byteFallback || pre == "Metaspace" || pre.empty())
        return SentencePieceBpeTokenizer::fromTokenizerJson(j, config, path);
      return ByteLevelBpeTokenizer::fromTokenizerJson(j, config, path);
    }
    throw TokenizerError("'" + path + "': tokenizer model type '" + type +
                         "' is not supported (supported: WordPiece, BPE)");
  }
  if (fs::exists(d / "vocab.txt")) return WordPieceTokenizer::fromVocabTxt((d / "vocab.txt").string(), config);
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"))
    return ByteLevelBpeTokenizer::fromVocabMerges((d / "vocab.json").string(), (d / "merges.txt").string(), config);
  return nullptr;
}
}  // namespace

bool parseTemplateProcessing(const nlohmann::json& pp, const Tokenizer& tok, std::vector<Tokenizer::TemplatePart>& single,
                             std::vector<Tokenizer::TemplatePart>& pair) {
  if (!pp.is_object() || pp.value("type", "") != "TemplateProcessing") return false;
  auto parse = [&](const nlohmann::json& list, std::vector<Tokenizer::TemplatePart>& out) {
    out.clear();
    if (!list.is_array()) return;
    for (const auto& item : list) {
      Tokenizer::TemplatePart part;
      if (item.contains("Sequence")) {
        part.isSequence = true;
        part.sequence = item["Sequence"].value("id", "A") == "B" ? 1 : 0;
        part.typeId = item["Sequence"].value("type_id", 0);
      } else if (item.contains("SpecialToken")) {
        const std::string name = item["SpecialToken"].value("id", "");
        int64_t id = -1;
        if (pp.contains("special_tokens") && pp["special_tokens"].contains(name) &&
            pp["special_tokens"][name].contains("ids") && !pp["special_tokens"][name]["ids"].empty())
          id = pp["special_tokens"][name]["ids"][0].get<int64_t>();
        else if (auto found = tok.idOf(name))
          id = *found;
        if (id < 0) throw TokenizerError("tokenizer.json post_processor names unknown special token '" + name + "'");
        part.id = id;
        part.typeId = item["SpecialToken"].value("type_id", 0);
      } else {
        continue;
      }
      out.push_back(part);
    }
  };
  parse(pp.value("single", nlohmann::json::array()), single);
  parse(pp.value("pair", nlohmann::json::array()), pair);
  return true;
}

Encoding Tokenizer::applyTemplate(const Encoding& a, const Encoding* b) const {
  const auto& parts = b ? m_pair : m_single;
  Encoding out;
  if (parts.empty()) {  // no template: plain concatenation
    out = a;
    out.typeIds.assign(a.ids.size(), 0);
    if (b)
      for (size_t i = 0; i < b->ids.size(); ++i) {
        out.ids.push_back(b->ids[i]);
        out.pieces.push_back(b->pieces[i]);
        out.typeIds.push_back(1);
      }
    return out;
  }
  for (const auto& p : parts) {
    if (p.isSequence) {
      const Encoding& e = (p.sequence == 1 && b) ? *b : a;
      for (size_t i = 0; i < e.ids.size(); ++i) {
        out.ids.push_back(e.ids[i]);
        out.pieces.push_back(e.pieces[i]);
        out.typeIds.push_back(p.typeId);
      }
    } else {
      out.ids.push_back(p.id);
      out.pieces.push_back(piece(p.id));
      out.typeIds.push_back(p.typeId);
    }
  }
  return out;
}

Encoding Tokenizer::encode(const std::string& text) const { return applyTemplate(tokenize(text), nullptr); }

Encoding Tokenizer::encodePair(const std::string& first, const std::string& second) const {
  if (m_pair.empty())
    throw InputError("this model's tokenizer (" + kind() + ") has no sentence-pair template; give a single text");
  const Encoding b = tokenize(second);
  return applyTemplate(tokenize(first), &b);
}

std::string Tokenizer::piece(int64_t id) const {
  return (id >= 0 && id < static_cast<int64_t>(m_pieces.size())) ? m_pieces[id] : std::string();
}

std::optional<int64_t> Tokenizer::idOf(const std::string& piece) const {
  auto it = m_ids.find(piece);
  if (it == m_ids.end()) return std::nullopt;
  return it->second;
}

void Tokenizer::setVocab(const std::map<std::string, int64_t>& vocab) {
  // Ids index the piece table: refuse any outside [0, entries + slack) before sizing it (a damaged vocabulary with
  // one id set to 2^40 must be an error, not a 2^40-entry allocation).
  const int64_t limit = static_cast<int64_t>(vocab.size()) + kIdSlack;
  for (const auto& kv : vocab)
    if (kv.second < 0 || kv.second >= limit)
      throw TokenizerError("vocabulary: token '" + kv.first + "' has id " + std::to_string(kv.second) +
                           ", outside [0, " + std::to_string(limit) + ") for a vocabulary of " +
                           std::to_string(vocab.size()) + " entries");
  m_ids = vocab;
  int64_t maxId = -1;
  for (const auto& kv : vocab) maxId = std::max(maxId, kv.second);
  m_pieces.assign(maxId + 1, std::string());
  for (const auto& kv : vocab) m_pieces[kv.second] = kv.first;
}

void Tokenizer::addSpecial(const std::string& content, int64_t id) {
  if (content.empty()) return;
  const int64_t limit = static_cast<int64_t>(m_pieces.size()) + kIdSlack;
  if (id < 0 || id >= limit)
    throw TokenizerError("added token '" + content + "' has id " + std::to_string(id) + ", outside [0, " +
                         std::to_string(limit) + ")");
  if (id >= static_cast<int64_t>(m_pieces.size())) m_pieces.resize(id + 1);
  m_pieces[id] = content;
  m_ids[content] = id;
  m_special[id] = content;
}

std::vector<std::pair<int64_t, std::string>> Tokenizer::splitSpecial(const std::string& text) const {
  std::vector<std::pair<int64_t, std::string>> out;
  std::string plain;
  size_t i = 0;
  while (i < text.size()) {
    int64_t bestId = -1;
    size_t bestLen = 0;
    for (const auto& [id, s] : m_special)
      if (s.size() > bestLen && text.compare(i, s.size(), s) == 0) {
        bestId = id;
        bestLen = s.size();
      }
    if (bestId >= 0) {
      if (!plain.empty()) out.emplace_back(-1, std::move(plain));
      plain.clear();
      out.emplace_back(bestId, text.substr(i, bestLen));
      i += bestLen;
    } else {
      plain.push_back(text[i++]);
    }
  }
  if (!plain.empty()) out.emplace_back(-1, std::move(plain));
  return out;
}

}  // namespace attnscope
