#include "attnscope/Tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"
#include "JsonTokenizer.h"
#include "SentencePieceModelTokenizer.h"

namespace attnscope {

namespace fs = std::filesystem;

namespace {
nlohmann::json readTokenizerJson(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw TokenizerError("cannot read '" + path + "'");
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError("'" + path + "' is not valid JSON: " + e.what());
  }
}
}  // namespace

namespace {
std::unique_ptr<Tokenizer> loadTokenizer(const std::string& dir);

/// The file the tokenizer of \p dir is read from (the order loadTokenizer() tries them in), for messages.
std::string tokenizerSource(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json"})
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
    return JsonTokenizer::fromJson(readTokenizerJson(path), config, path);
  }
  if (fs::exists(d / "tokenizer.model")) return loadSentencePieceModel((d / "tokenizer.model").string(), config);
  if (fs::exists(d / "vocab.txt")) return JsonTokenizer::fromVocabTxt((d / "vocab.txt").string(), config);
  if (fs::exists(d / "vocab.json") && config.is_object() &&
      config.value("tokenizer_class", std::string()).find("CTC") != std::string::npos)
    return JsonTokenizer::fromCtcVocab((d / "vocab.json").string(), config);
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"))
    return JsonTokenizer::fromVocabMerges((d / "vocab.json").string(), (d / "merges.txt").string(), config);
  return nullptr;
}
}  // namespace

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

}  // namespace attnscope
