#include "WordPieceTokenizer.h"

#include <fstream>

#include "TokenizerUtil.h"
#include "Unicode.h"
#include "attnscope/Errors.h"

namespace attnscope {

namespace {
bool isChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}
bool isBertWhitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || std::string(unicode::category(c)) == "Zs";
}
bool isBertControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return unicode::isControlCategory(c);
}
bool isBertPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return unicode::isPunctuationCategory(c);
}
// Python str.split(): split on str.isspace() runs, dropping empty pieces.
void splitWhitespace(const std::u32string& s, std::vector<std::u32string>& out) {
  std::u32string cur;
  for (char32_t c : s) {
    if (unicode::isPythonSpace(c)) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
}
}  // namespace

std::unique_ptr<Tokenizer> WordPieceTokenizer::fromTokenizerJson(const nlohmann::json& j, const nlohmann::json& config,
                                                                  const std::string& path) {
  auto t = std::unique_ptr<WordPieceTokenizer>(new WordPieceTokenizer());
  const auto& model = j["model"];
  if (!model.contains("vocab") || !model["vocab"].is_object())
    throw TokenizerError("'" + path + "': WordPiece model.vocab must be an object");
  std::map<std::string, int64_t> vocab;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) vocab[it.key()] = it.value().get<int64_t>();
  t->setVocab(vocab);
  t->m_unk = model.value("unk_token", "[UNK]");
  t->m_prefix = model.value("continuing_subword_prefix", "##");
  t->m_maxChars = model.value("max_input_chars_per_word", 100);
  if (j.contains("normalizer") && j["normalizer"].is_object() && j["normalizer"].value("type", "") == "BertNormalizer") {
    const auto& n = j["normalizer"];
    t->m_lowercase = n.value("lowercase", true);
    t->m_chineseChars = n.value("handle_chinese_chars", true);
    t->m_stripAccents = n.contains("strip_accents") && n["strip_accents"].is_boolean() ? n["strip_accents"].get<bool>()
                                                                                       : t->m_lowercase;
  } else {
    t->m_lowercase = false;
    t->m_stripAccents = false;
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& a : j["added_tokens"]) t->addSpecial(a.value("content", ""), a.value("id", -1));
  if (j.contains("post_processor")) parseTemplateProcessing(j["post_processor"], *t, t->m_single, t->m_pair);
  t->finishSetup(config);
  return t;
}

std::unique_ptr<Tokenizer> WordPieceTokenizer::fromVocabTxt(const std::string& path, const nlohmann::json& config) {
  auto t = std::unique_ptr<WordPieceTokenizer>(new WordPieceTokenizer());
  std::ifstream f(path);
  if (!f) throw TokenizerError("cannot read '" + path + "'");
  std::map<std::string, int64_t> vocab;
  std::string line;
  int64_t id = 0;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.emplace(line, id++);
  }
  if (vocab.empty()) throw TokenizerError("'" + path + "' is empty");
  t->setVocab(vocab);
  t->m_lowercase = config.value("do_lower_case", true);
  t->m_chineseChars = config.value("tokenize_chinese_chars", true);
  t->m_stripAccents = config.contains("strip_accents") && config["strip_accents"].is_boolean()
                          ? config["strip_accents"].get<bool>()
                          : t->m_lowercase;
  t->m_unk = config.value("unk_token", "[UNK]");
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    if (auto id2 = t->idOf(s)) t->addSpecial(s, *id2);
  t->finishSetup(config);
  return t;
}

void WordPieceTokenizer::finishSetup(const nlohmann::json& config) {
  const std::string cls = config.value("cls_token", "[CLS]");
  const std::string sep = config.value("sep_token", "[SEP]");
  if (m_single.empty()) {
    auto c = idOf(cls), s = idOf(sep);
    if (c && s) {
      m_single = {{false, 0, *c, 0}, {true, 0, -1, 0}, {false, 0, *s, 0}};
      m_pair = {{false, 0, *c, 0}, {true, 0, -1, 0}, {false, 0, *s, 0}, {true, 1, -1, 1}, {false, 0, *s, 1}};
    }
  }
  if (!idOf(m_unk)) throw TokenizerError("WordPiece vocabulary lacks the unknown token '" + m_unk + "'");
}

std::vector<std::u32string> WordPieceTokenizer::basicTokenize(const std::u32string& text) const {
  std::u32string cleaned;
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || isBertControl(c)) continue;
    if (isBertWhitespace(c)) {
      cleaned.push_back(' ');
    } else if (m_chineseChars && isChineseChar(c)) {
      cleaned.push_back(' ');
      cleaned.push_back(c);
      cleaned.push_back(' ');
    } else {
      cleaned.push_back(c);
    }
  }
  std::vector<std::u32string> words;
  splitWhitespace(cleaned, words);
  std::u32string joined;
  for (const auto& w : words) {
    std::u32string token;
    if (m_lowercase)
      for (char32_t c : w) unicode::appendLower(c, token);
    else
      token = w;
    if (m_stripAccents) {
      std::u32string decomposed, stripped;
      for (char32_t c : token) unicode::appendNfd(c, decomposed);
      for (char32_t c : decomposed)
        if (!unicode::isMark(c)) stripped.push_back(c);
      token = std::move(stripped);
    }
    // Punctuation characters become their own tokens.
    for (char32_t c : token) {
      if (isBertPunctuation(c)) {
        joined.push_back(' ');
        joined.push_back(c);
        joined.push_back(' ');
      } else {
        joined.push_back(c);
      }
    }
    joined.push_back(' ');
  }
  std::vector<std::u32string> out;
  splitWhitespace(joined, out);
  return out;
}

void WordPieceTokenizer::wordPiece(const std::u32string& word, Encoding& out) const {
  const int64_t unk = *idOf(m_unk);
  if (word.size() > m_maxChars) {
    out.ids.push_back(unk);
    out.pieces.push_back(m_unk);
    return;
  }
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int64_t found = -1;
    while (start < end) {
      std::string sub = unicode::encodeUtf8(word.substr(start, end - start));
      if (start > 0) sub = m_prefix + sub;
      if (auto id = idOf(sub)) {
        found = *id;
        break;
      }
      --end;
    }
    if (found < 0) {
      out.ids.push_back(unk);
      out.pieces.push_back(m_unk);
      return;
    }
    ids.push_back(found);
    start = end;
  }
  for (int64_t id : ids) {
    out.ids.push_back(id);
    out.pieces.push_back(piece(id));
  }
}

Encoding WordPieceTokenizer::tokenize(const std::string& text) const {
  Encoding out;
  for (const auto& [specialId, segment] : splitSpecial(text)) {
    if (specialId >= 0) {
      out.ids.push_back(specialId);
      out.pieces.push_back(segment);
      continue;
    }
    for (const auto& word : basicTokenize(unicode::decodeUtf8(segment))) wordPiece(word, out);
  }
  out.typeIds.assign(out.ids.size(), 0);
  return out;
}

std::string WordPieceTokenizer::decode(const std::vector<int64_t>& ids, bool skipSpecial) const {
  std::string out;
  for (int64_t id : ids) {
    if (skipSpecial && isSpecial(id)) continue;
    std::string p = piece(id);
    if (p.compare(0, m_prefix.size(), m_prefix) == 0) {
      out += p.substr(m_prefix.size());
    } else {
      if (!out.empty()) out += ' ';
      out += p;
    }
  }
  return out;
}

std::string WordPieceTokenizer::displayLabel(int64_t id) const { return piece(id); }

}  // namespace attnscope
