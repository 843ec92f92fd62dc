#include "ByteLevelBpeTokenizer.h"

#include <climits>
#include <fstream>

#include "TokenizerUtil.h"
#include "Unicode.h"
#include "attnscope/Errors.h"

namespace attnscope {

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer() {
  // GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to 256+n.
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
    m_byteToUnicode[b] = unicode::encodeUtf8(cp);
    m_unicodeToByte[cp] = static_cast<uint8_t>(b);
  }
}

std::unique_ptr<Tokenizer> ByteLevelBpeTokenizer::fromTokenizerJson(const nlohmann::json& j, const nlohmann::json& config,
                                                                     const std::string& path) {
  auto t = std::unique_ptr<ByteLevelBpeTokenizer>(new ByteLevelBpeTokenizer());
  const auto& model = j["model"];
  if (!model.contains("vocab") || !model["vocab"].is_object() || !model.contains("merges"))
    throw TokenizerError("'" + path + "': BPE model needs vocab and merges");
  std::map<std::string, int64_t> vocab;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) vocab[it.key()] = it.value().get<int64_t>();
  t->setVocab(vocab);
  int rank = 0;
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) throw TokenizerError("'" + path + "': malformed merge '" + s + "'");
      t->addMerge(s.substr(0, sp), s.substr(sp + 1), rank++);
    } else if (m.is_array() && m.size() == 2) {
      t->addMerge(m[0].get<std::string>(), m[1].get<std::string>(), rank++);
    }
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& a : j["added_tokens"]) t->addSpecial(a.value("content", ""), a.value("id", -1));
  bool prefix = false;
  if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object())
    prefix = j["pre_tokenizer"].value("add_prefix_space", false);
  if (j.contains("post_processor")) parseTemplateProcessing(j["post_processor"], *t, t->m_single, t->m_pair);
  t->finishSetup(config, prefix);
  return t;
}

std::unique_ptr<Tokenizer> ByteLevelBpeTokenizer::fromVocabMerges(const std::string& vocabPath,
                                                                   const std::string& mergesPath,
                                                                   const nlohmann::json& config) {
  auto t = std::unique_ptr<ByteLevelBpeTokenizer>(new ByteLevelBpeTokenizer());
  const nlohmann::json v = readTokenizerJson(vocabPath);
  if (!v.is_object()) throw TokenizerError("'" + vocabPath + "' must map token strings to ids");
  std::map<std::string, int64_t> vocab;
  for (auto it = v.begin(); it != v.end(); ++it) vocab[it.key()] = it.value().get<int64_t>();
  t->setVocab(vocab);
  std::ifstream f(mergesPath);
  if (!f) throw TokenizerError("cannot read '" + mergesPath + "'");
  std::string line;
  int rank = 0;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos) throw TokenizerError("'" + mergesPath + "': malformed merge line '" + line + "'");
    t->addMerge(line.substr(0, sp), line.substr(sp + 1), rank++);
  }
  // GPT-2's <|endoftext|> is in the vocabulary; HF treats the configured bos/eos/unk as special.
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"})
    if (config.contains(key) && config[key].is_string())
      if (auto id = t->idOf(config[key].get<std::string>())) t->addSpecial(config[key].get<std::string>(), *id);
  if (auto id = t->idOf("<|endoftext|>")) t->addSpecial("<|endoftext|>", *id);
  t->finishSetup(config, false);
  return t;
}

void ByteLevelBpeTokenizer::addMerge(const std::string& a, const std::string& b, int rank) {
  m_ranks.emplace(a + " " + b, rank);
}

void ByteLevelBpeTokenizer::finishSetup(const nlohmann::json& config, bool addPrefixSpaceDefault) {
  m_addPrefixSpace = config.value("add_prefix_space", addPrefixSpaceDefault);
  for (const char* key : {"bos_token", "eos_token"}) {
    if (!config.contains(key)) continue;
    const auto& v = config[key];
    std::string s = v.is_string() ? v.get<std::string>() : (v.is_object() ? v.value("content", "") : "");
    if (auto id = idOf(s)) (std::string(key) == "bos_token" ? m_bos : m_eos) = *id;
  }
  if (!m_eos)
    if (auto id = idOf("<|endoftext|>")) m_eos = *id;
  if (config.value("add_bos_token", false) && m_bos && m_single.empty())
    m_single = {{false, 0, *m_bos, 0}, {true, 0, -1, 0}};
}

std::vector<std::u32string> ByteLevelBpeTokenizer::preTokenize(const std::u32string& s) {
  using unicode::isLetter;
  using unicode::isNumber;
  auto isSpace = [](char32_t c) { return unicode::isWhiteSpaceProperty(c); };
  std::vector<std::u32string> out;
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const char32_t c = s[i];
    // Contractions (case-sensitive, as in GPT-2's pattern).
    if (c == '\'' && i + 1 < n) {
      static const char32_t* const kSuffixes[] = {U"re", U"ve", U"ll", U"s", U"t", U"m", U"d"};
      bool matched = false;
      for (const char32_t* suf : kSuffixes) {
        const std::u32string sfx(suf);
        if (s.compare(i + 1, sfx.size(), sfx) == 0) {
          out.push_back(s.substr(i, 1 + sfx.size()));
          i += 1 + sfx.size();
          matched = true;
          break;
        }
      }
      if (matched) continue;
    }
    // ' ?' prefix followed by letters / numbers / other.
    size_t j = i;
    if (c == ' ' && i + 1 < n && !isSpace(s[i + 1])) j = i + 1;
    if (j < n && !isSpace(s[j])) {
      const char32_t d = s[j];
      size_t k = j;
      if (isLetter(d)) {
        while (k < n && isLetter(s[k])) ++k;
      } else if (isNumber(d)) {
        while (k < n && isNumber(s[k])) ++k;
      } else {
        while (k < n && !isSpace(s[k]) && !isLetter(s[k]) && !isNumber(s[k])) ++k;
      }
      out.push_back(s.substr(i, k - i));
      i = k;
      continue;
    }
    // Whitespace run: \s+(?!\S) leaves the last space for the next word; else \s+.
    size_t k = i;
    while (k < n && isSpace(s[k])) ++k;
    if (k < n && k - i > 1) {
      out.push_back(s.substr(i, k - 1 - i));
      i = k - 1;
    } else {
      out.push_back(s.substr(i, k - i));
      i = k;
    }
  }
  return out;
}

std::vector<std::string> ByteLevelBpeTokenizer::bpe(const std::string& word) const { return bpeMerge(word, m_ranks); }

Encoding ByteLevelBpeTokenizer::tokenize(const std::string& text) const {
  Encoding out;
  bool first = true;
  for (const auto& [specialId, segment] : splitSpecial(text)) {
    if (specialId >= 0) {
      out.ids.push_back(specialId);
      out.pieces.push_back(segment);
      first = false;
      continue;
    }
    std::u32string u = unicode::decodeUtf8(segment);
    if (first && m_addPrefixSpace && !u.empty() && u[0] != ' ') u.insert(u.begin(), ' ');
    first = false;
    for (const auto& word : preTokenize(u)) {
      std::string mapped;
      for (unsigned char b : unicode::encodeUtf8(word)) mapped += m_byteToUnicode[b];
      for (const auto& p : bpe(mapped)) {
        auto id = idOf(p);
        if (!id) throw InputError("byte-level BPE produced piece '" + p + "' that is not in the vocabulary");
        out.ids.push_back(*id);
        out.pieces.push_back(p);
      }
    }
  }
  out.typeIds.assign(out.ids.size(), 0);
  return out;
}

std::string ByteLevelBpeTokenizer::pieceBytes(const std::string& p) const {
  std::string bytes;
  for (char32_t c : unicode::decodeUtf8Lossy(p)) {
    auto it = m_unicodeToByte.find(c);
    if (it != m_unicodeToByte.end())
      bytes.push_back(static_cast<char>(it->second));
    else
      bytes += unicode::encodeUtf8(c);
  }
  return bytes;
}

std::string ByteLevelBpeTokenizer::decode(const std::vector<int64_t>& ids, bool skipSpecial) const {
  std::string bytes;
  for (int64_t id : ids) {
    if (isSpecial(id)) {
      if (!skipSpecial) bytes += piece(id);
      continue;
    }
    bytes += pieceBytes(piece(id));
  }
  return unicode::encodeUtf8(unicode::decodeUtf8Lossy(bytes));
}

std::string ByteLevelBpeTokenizer::displayLabel(int64_t id) const {
  if (isSpecial(id)) return piece(id);
  return displayBytes(pieceBytes(piece(id)));
}

}  // namespace attnscope
