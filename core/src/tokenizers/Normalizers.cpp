// Normalizers of tokenizer.json: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend,
// BertNormalizer and Sequence, each registered by its "type".
#include <utf8proc.h>

#include "TokenizerParts.h"

namespace attnscope::tok {
namespace {

class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(std::string form) : m_form(std::move(form)) {}
  std::string normalize(const std::string& s) const override { return normalizeForm(s, m_form); }

 private:
  std::string m_form;
};

class Lowercase : public Normalizer {
 public:
  std::string normalize(const std::string& s) const override { return lowercase(s); }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : m_left(left), m_right(right) {}
  std::string normalize(const std::string& s) const override {
    std::u32string c = codepoints(s);
    size_t b = 0, e = c.size();
    if (m_left)
      while (b < e && isWhitespace(c[b])) ++b;
    if (m_right)
      while (e > b && isWhitespace(c[e - 1])) --e;
    return utf8(c.substr(b, e - b));
  }

 private:
  bool m_left, m_right;
};

/// Removes nonspacing marks (Mn); meaningful after NFD/NFKD, as HF's docs require.
std::string stripMarks(const std::string& s) {
  std::string out;
  for (char32_t c : codepoints(s))
    if (utf8proc_category(static_cast<utf8proc_int32_t>(c)) != UTF8PROC_CATEGORY_MN) out += utf8(c);
  return out;
}

class StripAccents : public Normalizer {
 public:
  std::string normalize(const std::string& s) const override { return stripMarks(s); }
};

class Replace : public Normalizer {
 public:
  explicit Replace(const Json& j) : m_content(j["content"].str()) {
    const Json pattern = j["pattern"];
    if (pattern.has("String")) m_literal = pattern["String"].str();
    else m_regex = std::make_unique<Regex>(pattern["Regex"].str(), pattern["Regex"]);
    if (!m_regex && m_literal.empty()) pattern.fail("an empty pattern replaces nothing");
  }
  std::string normalize(const std::string& s) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    if (m_regex) {
      matches = m_regex->findAll(s);
    } else {
      for (size_t at = s.find(m_literal); at != std::string::npos; at = s.find(m_literal, at + m_literal.size()))
        matches.emplace_back(at, at + m_literal.size());
    }
    std::string out;
    size_t at = 0;
    for (const auto& [b, e] : matches) {
      out.append(s, at, b - at);
      out += m_content;
      at = e;
    }
    out.append(s, at, std::string::npos);
    return out;
  }

 private:
  std::string m_literal, m_content;
  std::unique_ptr<Regex> m_regex;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : m_prepend(std::move(p)) {}
  std::string normalize(const std::string& s) const override { return s.empty() ? s : m_prepend + s; }

 private:
  std::string m_prepend;
};

/// BERT's cleanup: drop control characters and U+FFFD, whitespace to ' ', spaces around CJK ideographs,
/// accents stripped (NFD, then marks removed; by default when lower-casing), lower-casing.
class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(const Json& j)
      : m_clean(j.boolean("clean_text", true)),
        m_chinese(j.boolean("handle_chinese_chars", true)),
        m_lower(j.boolean("lowercase", true)) {
    m_stripAccents = j.has("strip_accents") ? j["strip_accents"].boolean() : m_lower;
  }
  std::string normalize(const std::string& s) const override {
    std::string out;
    for (char32_t c : codepoints(s)) {
      if (m_clean) {
        // As HF: control characters (C*, but not tab/newline/return) and U+0000 / U+FFFD go first, then any
        // whitespace becomes one space.
        if (c == 0 || c == 0xFFFD) continue;
        const bool tabOrNewline = c == '\t' || c == '\n' || c == '\r';
        if (!tabOrNewline && category(c)[0] == 'C') continue;
        if (tabOrNewline || isWhitespace(c) || utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ZS) {
          out += ' ';
          continue;
        }
      }
      if (m_chinese && isCjk(c)) {
        out += ' ' + utf8(c) + ' ';
        continue;
      }
      out += utf8(c);
    }
    if (m_stripAccents) out = stripMarks(normalizeForm(out, "NFD"));
    if (m_lower) out = lowercase(out);
    return out;
  }

 private:
  static bool isCjk(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }
  bool m_clean, m_chinese, m_lower, m_stripAccents;
};

class Sequence : public Normalizer {
 public:
  Sequence(const Json& j, const BuildContext& ctx) {
    for (const Json& n : j["normalizers"].elements()) m_parts.push_back(build<Normalizer>(n, ctx, "normalizer"));
  }
  std::string normalize(const std::string& s) const override {
    std::string out = s;
    for (const auto& p : m_parts)
      if (p) out = p->normalize(out);
    return out;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> m_parts;
};

using N = Normalizer;
std::unique_ptr<N> form(const char* f) { return std::make_unique<UnicodeForm>(f); }
const Register<N> kNfc("NFC", [](const Json&, const BuildContext&) { return form("NFC"); });
const Register<N> kNfd("NFD", [](const Json&, const BuildContext&) { return form("NFD"); });
const Register<N> kNfkc("NFKC", [](const Json&, const BuildContext&) { return form("NFKC"); });
const Register<N> kNfkd("NFKD", [](const Json&, const BuildContext&) { return form("NFKD"); });
const Register<N> kLower("Lowercase", [](const Json&, const BuildContext&) -> std::unique_ptr<N> {
  return std::make_unique<Lowercase>();
});
const Register<N> kStrip("Strip", [](const Json& j, const BuildContext&) -> std::unique_ptr<N> {
  return std::make_unique<Strip>(j.boolean("strip_left", true), j.boolean("strip_right", true));
});
const Register<N> kStripAccents("StripAccents", [](const Json&, const BuildContext&) -> std::unique_ptr<N> {
  return std::make_unique<StripAccents>();
});
const Register<N> kReplace("Replace", [](const Json& j, const BuildContext&) -> std::unique_ptr<N> {
  return std::make_unique<Replace>(j);
});
const Register<N> kPrepend("Prepend", [](const Json& j, const BuildContext&) -> std::unique_ptr<N> {
  return std::make_unique<Prepend>(j["prepend"].str());
});
const Register<N> kBert("BertNormalizer", [](const Json& j, const BuildContext&) -> std::unique_ptr<N> {
  return std::make_unique<BertNormalizer>(j);
});
const Register<N> kSequence("Sequence", [](const Json& j, const BuildContext& c) -> std::unique_ptr<N> {
  return std::make_unique<Sequence>(j, c);
});

}  // namespace
}  // namespace attnscope::tok
