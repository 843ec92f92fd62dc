// Pre-tokenizers of tokenizer.json: Split (string or regex, every behavior, invert), ByteLevel (with or without its
// regex), Metaspace (prepend_scheme, split), Whitespace, WhitespaceSplit, CharDelimiterSplit, Punctuation, Digits,
// BertPreTokenizer and Sequence, each registered by its "type".
#include "TokenizerParts.h"

namespace attnscope::tok {
namespace {

/// GPT-2's pre-tokenization pattern (HF ByteLevel with use_regex).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// Applies \p matcher to every piece and splits it with \p behavior.
template <class Matcher>
void splitAll(std::vector<Piece>& pieces, Matcher matcher, SplitBehavior behavior, bool invert = false) {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (const Piece& p : pieces) splitPiece(p, matcher(p.text), behavior, invert, out);
  pieces.swap(out);
}

std::vector<std::pair<size_t, size_t>> literalMatches(const std::string& text, const std::string& needle) {
  std::vector<std::pair<size_t, size_t>> out;
  if (needle.empty()) return out;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
    out.emplace_back(at, at + needle.size());
  return out;
}

class Split : public PreTokenizer {
 public:
  explicit Split(const Json& j) : m_behavior(splitBehavior(j["behavior"])), m_invert(j.boolean("invert", false)) {
    const Json pattern = j["pattern"];
    if (pattern.has("Regex")) m_regex = std::make_unique<Regex>(pattern["Regex"].str(), pattern["Regex"]);
    else m_literal = pattern["String"].str();
  }
  void split(std::vector<Piece>& pieces) const override {
    splitAll(
        pieces,
        [this](const std::string& t) { return m_regex ? m_regex->findAll(t) : literalMatches(t, m_literal); },
        m_behavior, m_invert);
  }

 private:
  SplitBehavior m_behavior;
  bool m_invert;
  std::string m_literal;
  std::unique_ptr<Regex> m_regex;
};

class ByteLevel : public PreTokenizer {
 public:
  explicit ByteLevel(const Json& j) : m_prefix(j.boolean("add_prefix_space", true)) {
    if (j.boolean("use_regex", true)) m_regex = std::make_unique<Regex>(kGpt2Pattern, j);
  }
  void split(std::vector<Piece>& pieces) const override {
    if (m_prefix)
      for (Piece& p : pieces)
        if (p.text.empty() || p.text[0] != ' ') p.text = " " + p.text;
    if (m_regex) splitAll(pieces, [this](const std::string& t) { return m_regex->findAll(t); }, SplitBehavior::Isolated);
    const auto& table = byteToUnicode();
    for (Piece& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (unsigned char b : p.text) mapped += table[b];
      p.text.swap(mapped);
    }
  }

 private:
  bool m_prefix;
  std::unique_ptr<Regex> m_regex;
};

class Metaspace : public PreTokenizer {
 public:
  explicit Metaspace(const Json& j) : m_replacement(j.str("replacement", "\u2581")), m_split(j.boolean("split", true)) {
    if (j.has("prepend_scheme")) {
      m_scheme = j["prepend_scheme"].str();
      if (m_scheme != "always" && m_scheme != "first" && m_scheme != "never")
        j["prepend_scheme"].fail("expected always, first or never");
    } else {
      m_scheme = j.boolean("add_prefix_space", true) ? "always" : "never";  // the older form
    }
    if (m_replacement.empty()) j["replacement"].fail("must not be empty");
  }
  void split(std::vector<Piece>& pieces) const override {
    for (Piece& p : pieces) {
      std::string t;
      for (char c : p.text) {
        if (c == ' ') t += m_replacement;
        else t += c;
      }
      const bool starts = t.compare(0, m_replacement.size(), m_replacement) == 0;
      if (!starts && (m_scheme == "always" || (m_scheme == "first" && p.atStart))) t = m_replacement + t;
      p.text.swap(t);
    }
    if (m_split)
      splitAll(pieces, [this](const std::string& t) { return literalMatches(t, m_replacement); },
               SplitBehavior::MergedWithNext);
  }

 private:
  std::string m_replacement, m_scheme;
  bool m_split;
};

class Whitespace : public PreTokenizer {
 public:
  explicit Whitespace(const Json& j) : m_words(R"(\w+|[^\w\s]+)", j) {}
  void split(std::vector<Piece>& pieces) const override {
    splitAll(pieces, [this](const std::string& t) { return m_words.findAll(t); }, SplitBehavior::Removed, true);
  }

 private:
  Regex m_words;
};

/// Splits on code points for which a predicate holds, with a fixed behavior.
class CharSplit : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> pred, SplitBehavior behavior)
      : m_pred(std::move(pred)), m_behavior(behavior) {}
  void split(std::vector<Piece>& pieces) const override {
    splitAll(pieces, [this](const std::string& t) { return charMatches(t, m_pred); }, m_behavior);
  }

 private:
  std::function<bool(char32_t)> m_pred;
  SplitBehavior m_behavior;
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void split(std::vector<Piece>& pieces) const override {
    m_space.split(pieces);
    m_punct.split(pieces);
  }

 private:
  CharSplit m_space{isWhitespace, SplitBehavior::Removed};
  CharSplit m_punct{isBertPunctuation, SplitBehavior::Isolated};
};

class Sequence : public PreTokenizer {
 public:
  Sequence(const Json& j, const BuildContext& ctx) {
    for (const Json& p : j["pretokenizers"].elements()) m_parts.push_back(build<PreTokenizer>(p, ctx, "pre-tokenizer"));
  }
  void split(std::vector<Piece>& pieces) const override {
    for (const auto& p : m_parts)
      if (p) p->split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> m_parts;
};

using P = PreTokenizer;
const Register<P> kSplit("Split", [](const Json& j, const BuildContext&) -> std::unique_ptr<P> {
  return std::make_unique<Split>(j);
});
const Register<P> kByteLevel("ByteLevel", [](const Json& j, const BuildContext&) -> std::unique_ptr<P> {
  return std::make_unique<ByteLevel>(j);
});
const Register<P> kMetaspace("Metaspace", [](const Json& j, const BuildContext&) -> std::unique_ptr<P> {
  return std::make_unique<Metaspace>(j);
});
const Register<P> kWhitespace("Whitespace", [](const Json& j, const BuildContext&) -> std::unique_ptr<P> {
  return std::make_unique<Whitespace>(j);
});
const Register<P> kWhitespaceSplit("WhitespaceSplit", [](const Json&, const BuildContext&) -> std::unique_ptr<P> {
  return std::make_unique<CharSplit>(isWhitespace, SplitBehavior::Removed);
});
const Register<P> kCharDelimiter("CharDelimiterSplit", [](const Json& j, const BuildContext&) -> std::unique_ptr<P> {
  const std::u32string d = codepoints(j["delimiter"].str());
  if (d.size() != 1) j["delimiter"].fail("expected one character");
  const char32_t c = d[0];
  return std::make_unique<CharSplit>([c](char32_t x) { return x == c; }, SplitBehavior::Removed);
});
const Register<P> kPunctuation("Punctuation", [](const Json& j, const BuildContext&) -> std::unique_ptr<P> {
  const SplitBehavior b = j.has("behavior") ? splitBehavior(j["behavior"]) : SplitBehavior::Isolated;
  return std::make_unique<CharSplit>(isBertPunctuation, b);
});
const Register<P> kDigits("Digits", [](const Json& j, const BuildContext&) -> std::unique_ptr<P> {
  return std::make_unique<CharSplit>(isNumber, j.boolean("individual_digits", false) ? SplitBehavior::Isolated
                                                                                       : SplitBehavior::Contiguous);
});
const Register<P> kBert("BertPreTokenizer", [](const Json&, const BuildContext&) -> std::unique_ptr<P> {
  return std::make_unique<BertPreTokenizer>();
});
const Register<P> kSequence("Sequence", [](const Json& j, const BuildContext& c) -> std::unique_ptr<P> {
  return std::make_unique<Sequence>(j, c);
});

}  // namespace
}  // namespace attnscope::tok
