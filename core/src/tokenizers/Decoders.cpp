// Decoders of tokenizer.json (HF's decode_chain): ByteLevel, Metaspace, WordPiece, ByteFallback, Fuse, Strip,
// Replace, BPEDecoder and Sequence, registered by "type".
#include "TokenizerParts.h"

namespace attnscope::tok {
namespace {

/// Valid UTF-8 kept, every invalid byte replaced by U+FFFD (as String::from_utf8_lossy).
std::string lossy(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = n > 0 && i + n <= bytes.size() && !(n == 2 && c < 0xC2);
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(bytes[i + k]) & 0xC0) == 0x80;
    if (ok && n > 1) {
      const std::u32string cp = codepoints(bytes.substr(i, n));
      ok = cp.size() == 1 && cp[0] != 0xFFFD && !(cp[0] >= 0xD800 && cp[0] <= 0xDFFF) && cp[0] <= 0x10FFFF &&
           utf8(cp[0]).size() == n;  // no overlong forms
    }
    if (ok) {
      out.append(bytes, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

class ByteLevel : public Decoder {
 public:
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {lossy(byteLevelBytes(all))};
  }
};

class Metaspace : public Decoder {
 public:
  explicit Metaspace(const Json& j) : m_replacement(j.str("replacement", "\u2581")) {
    const std::string scheme =
        j.has("prepend_scheme") ? j["prepend_scheme"].str() : (j.boolean("add_prefix_space", true) ? "always" : "never");
    m_stripFirst = scheme != "never";
  }
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string t;
      for (size_t at = 0; at < tokens[i].size();) {
        if (tokens[i].compare(at, m_replacement.size(), m_replacement) == 0) {
          t += ' ';
          at += m_replacement.size();
        } else {
          t += tokens[i][at++];
        }
      }
      if (i == 0 && m_stripFirst && !t.empty() && t[0] == ' ') t.erase(0, 1);
      tokens[i] = t;
    }
    return tokens;
  }

 private:
  std::string m_replacement;
  bool m_stripFirst = true;
};

/// HF's cleanup of " ." " ?" " !" " ," " ' " " n't" " 'm" " 's" " 've" " 're".
std::string cleanup(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    const std::string f(from), t(to);
    for (size_t at = s.find(f); at != std::string::npos; at = s.find(f, at + t.size())) s.replace(at, f.size(), t);
  }
  return s;
}

class WordPiece : public Decoder {
 public:
  explicit WordPiece(const Json& j) : m_prefix(j.str("prefix", "##")), m_cleanup(j.boolean("cleanup", true)) {}
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) {
        if (tokens[i].compare(0, m_prefix.size(), m_prefix) == 0) tokens[i].erase(0, m_prefix.size());
        else tokens[i] = " " + tokens[i];
      }
      if (m_cleanup) tokens[i] = cleanup(tokens[i]);
    }
    return tokens;
  }

 private:
  std::string m_prefix;
  bool m_cleanup;
};

class ByteFallback : public Decoder {
 public:
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t pending = 0;
    auto flush = [&] {
      if (pending == 0) return;
      const std::string text = lossy(bytes);
      // A byte run that is not valid UTF-8 becomes one U+FFFD per byte (as HF does).
      if (text.find("\xEF\xBF\xBD") != std::string::npos)
        for (size_t k = 0; k < pending; ++k) out.push_back("\xEF\xBF\xBD");
      else
        out.push_back(text);
      bytes.clear();
      pending = 0;
    };
    for (const auto& t : tokens) {
      const int b = hexByte(t);
      if (b >= 0) {
        bytes.push_back(static_cast<char>(b));
        ++pending;
      } else {
        flush();
        out.push_back(t);
      }
    }
    flush();
    return out;
  }
};

class Fuse : public Decoder {
 public:
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
};

class Strip : public Decoder {
 public:
  explicit Strip(const Json& j)
      : m_content(j["content"].str()), m_start(j.integer("start", 0)), m_stop(j.integer("stop", 0)) {}
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::u32string c = codepoints(t);
      const std::u32string what = codepoints(m_content);
      if (what.size() != 1) continue;
      size_t b = 0, e = c.size();
      for (int64_t k = 0; k < m_start && b < e && c[b] == what[0]; ++k) ++b;
      for (int64_t k = 0; k < m_stop && e > b && c[e - 1] == what[0]; ++k) --e;
      t = utf8(c.substr(b, e - b));
    }
    return tokens;
  }

 private:
  std::string m_content;
  int64_t m_start, m_stop;
};

class Replace : public Decoder {
 public:
  explicit Replace(const Json& j) : m_content(j["content"].str()) {
    const Json pattern = j["pattern"];
    if (pattern.has("Regex")) m_regex = std::make_unique<Regex>(pattern["Regex"].str(), pattern["Regex"]);
    else m_literal = pattern["String"].str();
  }
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::vector<std::pair<size_t, size_t>> matches;
      if (m_regex) matches = m_regex->findAll(t);
      else if (!m_literal.empty())
        for (size_t at = t.find(m_literal); at != std::string::npos; at = t.find(m_literal, at + m_literal.size()))
          matches.emplace_back(at, at + m_literal.size());
      std::string out;
      size_t at = 0;
      for (const auto& [b, e] : matches) {
        out.append(t, at, b - at);
        out += m_content;
        at = e;
      }
      out.append(t, at, std::string::npos);
      t = out;
    }
    return tokens;
  }

 private:
  std::string m_literal, m_content;
  std::unique_ptr<Regex> m_regex;
};

class BpeSuffix : public Decoder {
 public:
  explicit BpeSuffix(const Json& j) : m_suffix(j.str("suffix", "</w>")) {}
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      for (size_t at = t.find(m_suffix); !m_suffix.empty() && at != std::string::npos; at = t.find(m_suffix, at))
        t.replace(at, m_suffix.size(), i + 1 == tokens.size() ? "" : " ");
    }
    return tokens;
  }

 private:
  std::string m_suffix;
};

class Sequence : public Decoder {
 public:
  Sequence(const Json& j, const BuildContext& ctx) {
    for (const Json& d : j["decoders"].elements()) m_parts.push_back(build<Decoder>(d, ctx, "decoder"));
  }
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const override {
    for (const auto& p : m_parts)
      if (p) tokens = p->decodeChain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> m_parts;
};

using D = Decoder;
const Register<D> kByteLevel("ByteLevel", [](const Json&, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<ByteLevel>();
});
const Register<D> kMetaspace("Metaspace", [](const Json& j, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<Metaspace>(j);
});
const Register<D> kWordPiece("WordPiece", [](const Json& j, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<WordPiece>(j);
});
const Register<D> kByteFallback("ByteFallback", [](const Json&, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<ByteFallback>();
});
const Register<D> kFuse("Fuse", [](const Json&, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<Fuse>();
});
const Register<D> kStrip("Strip", [](const Json& j, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<Strip>(j);
});
const Register<D> kReplace("Replace", [](const Json& j, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<Replace>(j);
});
const Register<D> kBpe("BPEDecoder", [](const Json& j, const BuildContext&) -> std::unique_ptr<D> {
  return std::make_unique<BpeSuffix>(j);
});
const Register<D> kSequence("Sequence", [](const Json& j, const BuildContext& c) -> std::unique_ptr<D> {
  return std::make_unique<Sequence>(j, c);
});

}  // namespace
}  // namespace attnscope::tok
