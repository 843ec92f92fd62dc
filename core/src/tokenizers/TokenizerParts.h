#pragma once
// The components of a Hugging Face `tokenizers` pipeline (tokenizer.json): normalizers, pre-tokenizers, the
// vocabulary model, post-processors and decoders. Each component is a small class registered by its JSON "type";
// JsonTokenizer assembles them. Internal to core.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnscope/Tokenizer.h"

namespace attnscope::tok {

/// A value inside a tokenizer file, with the key path that leads to it, so that every type or range error names
/// the file and the field: `tokenizer.json: model.vocab["hello"]: expected an integer, got a string`.
class Json {
 public:
  Json(const nlohmann::json& value, std::string file, std::string path = "")
      : m_value(&value), m_file(std::move(file)), m_path(std::move(path)) {}

  const nlohmann::json& raw() const { return *m_value; }
  const std::string& file() const { return m_file; }
  const std::string& path() const { return m_path; }
  bool isNull() const { return m_value->is_null(); }
  bool isObject() const { return m_value->is_object(); }
  bool isArray() const { return m_value->is_array(); }
  bool isString() const { return m_value->is_string(); }
  /// Present and not null.
  bool has(const std::string& key) const {
    return m_value->is_object() && m_value->contains(key) && !(*m_value)[key].is_null();
  }
  /// Member \p key (the object is checked; a missing key is an error).
  Json operator[](const std::string& key) const;
  /// Member \p key, or a null value when absent.
  Json opt(const std::string& key) const;
  /// Element \p i of an array.
  Json at(size_t i) const;
  size_t size() const;
  /// The members of an object, in file order: key and value.
  std::vector<std::pair<std::string, Json>> members() const;
  /// The elements of an array.
  std::vector<Json> elements() const;

  std::string str() const;
  int64_t integer() const;
  /// integer() checked to lie in [lo, hi].
  int64_t integer(int64_t lo, int64_t hi) const;
  double number() const;
  bool boolean() const;
  std::string str(const std::string& key, const std::string& fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  int64_t integer(const std::string& key, int64_t fallback) const;

  /// Throws TokenizerError "<file>: <path>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  std::string kindName() const;
  const nlohmann::json* m_value;
  std::string m_file, m_path;
};

/// A piece of text moving through pre-tokenization; \c atStart is true for the piece that begins the input
/// (Metaspace's prepend_scheme "first" needs it).
struct Piece {
  std::string text;
  bool atStart = false;
};

/// One token produced by the model.
struct Token {
  int64_t id = -1;
  std::string piece;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(const std::string& text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Splits (and may rewrite) every piece; empty pieces may be left (they are dropped later).
  virtual void split(std::vector<Piece>& pieces) const = 0;
};

/// The vocabulary model: turns one pre-token into tokens.
class TokenModel {
 public:
  virtual ~TokenModel() = default;
  virtual void tokenize(const std::string& word, std::vector<Token>& out) const = 0;
  /// Every (piece, id) of the vocabulary.
  virtual const std::map<std::string, int64_t>& vocab() const = 0;
  /// "BPE", "WordPiece", "Unigram".
  virtual std::string type() const = 0;
  virtual bool byteFallback() const { return false; }
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  /// Adds the special tokens around \p a (and \p b when not null); returns the merged encoding.
  virtual Encoding process(const Encoding& a, const Encoding* b) const = 0;
  /// Whether it can join a pair of sequences.
  virtual bool handlesPairs() const { return true; }
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  /// HF's decode_chain: tokens in, (fewer or rewritten) strings out; the result is concatenated at the end.
  virtual std::vector<std::string> decodeChain(std::vector<std::string> tokens) const = 0;
};

/// What a component may need from the rest of the file while being built.
struct BuildContext {
  /// Id of a token string (model vocabulary or added tokens); -1 when unknown.
  std::function<int64_t(const std::string&)> idOf;
};

template <class T>
using Factory = std::function<std::unique_ptr<T>(const Json&, const BuildContext&)>;

/// Component registries keyed by the JSON "type".
template <class T>
std::map<std::string, Factory<T>>& registry() {
  static std::map<std::string, Factory<T>> r;
  return r;
}

/// One line per component class: `const Register<Normalizer> kNfc("NFC", factory);`
template <class T>
struct Register {
  Register(const std::string& type, Factory<T> factory) { registry<T>()[type] = std::move(factory); }
};

/// Builds the component described by \p j (an object with "type"); null JSON gives nullptr. An unknown type is a
/// TokenizerError naming it and the known ones; \p what names the kind ("normalizer").
template <class T>
std::unique_ptr<T> build(const Json& j, const BuildContext& ctx, const std::string& what) {
  if (j.isNull()) return nullptr;
  const std::string type = j["type"].str();
  auto it = registry<T>().find(type);
  if (it == registry<T>().end()) {
    std::string known;
    for (const auto& kv : registry<T>()) known += (known.empty() ? "" : ", ") + kv.first;
    j.fail(what + " type '" + type + "' is not supported (supported: " + known + ")");
  }
  return it->second(j, ctx);
}

// ---- Unicode and bytes (utf8proc underneath) ----------------------------------------------------------------

/// Code points of valid UTF-8 \p s.
std::u32string codepoints(const std::string& s);
std::string utf8(char32_t cp);
std::string utf8(const std::u32string& s);
/// Unicode general category of \p cp as two letters ("Lu", "Mn", "Zs", ...).
const char* category(char32_t cp);
bool isLetter(char32_t cp);
bool isNumber(char32_t cp);
bool isAlnum(char32_t cp);
/// The White_Space property (what Rust's char::is_whitespace and regex \s use).
bool isWhitespace(char32_t cp);
/// Unicode punctuation (P*) or ASCII symbol punctuation, as BERT defines it.
bool isBertPunctuation(char32_t cp);
/// Canonical / compatibility (de)composition of UTF-8 text: "NFC", "NFD", "NFKC", "NFKD".
std::string normalizeForm(const std::string& text, const std::string& form);
/// Simple lower-casing of every code point.
std::string lowercase(const std::string& text);

/// GPT-2's bytes_to_unicode(): the printable stand-in of every byte, and back.
const std::vector<std::string>& byteToUnicode();
/// Bytes of a byte-level string (characters not in the table are kept as their UTF-8).
std::string byteLevelBytes(const std::string& text);
/// "<0x0A>" -> 10; -1 when \p piece is not a byte piece.
int hexByte(const std::string& piece);
/// Bytes as text for a label: valid UTF-8 kept, newline/tab escaped, other bytes as <0xNN>.
std::string displayBytes(const std::string& bytes);
/// Label of a SentencePiece-style piece: "▁" shown as a space; a lone byte piece as its character when printable
/// ASCII, "\n" / "\t", else as itself.
std::string metaspaceLabel(const std::string& piece);

/// Regex with PCRE2 (UTF + UCP): the byte ranges of every non-empty match of \p pattern in \p text.
class Regex {
 public:
  /// Throws TokenizerError through \p where.fail() when PCRE2 rejects the pattern.
  Regex(const std::string& pattern, const Json& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  std::vector<std::pair<size_t, size_t>> findAll(const std::string& text) const;

 private:
  void* m_code = nullptr;
};

/// HF's SplitDelimiterBehavior applied to the match ranges of one piece.
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior splitBehavior(const Json& j);
/// Splits \p piece at \p matches (byte ranges, sorted, non-overlapping) with \p behavior, inverted when \p invert.
void splitPiece(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
                bool invert, std::vector<Piece>& out);
/// Byte ranges of the code points of \p text for which \p pred holds (one range per code point).
std::vector<std::pair<size_t, size_t>> charMatches(const std::string& text, const std::function<bool(char32_t)>& pred);

}  // namespace attnscope::tok
