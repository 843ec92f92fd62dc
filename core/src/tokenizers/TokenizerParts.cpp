#include "TokenizerParts.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "attnscope/Errors.h"

namespace attnscope::tok {

// ---- Json ----------------------------------------------------------------------------------------------------

std::string Json::kindName() const {
  switch (m_value->type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "a list";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "true/false";
    case nlohmann::json::value_t::number_float: return "a fractional number";
    default: return "a number";
  }
}

void Json::fail(const std::string& what) const {
  throw TokenizerError(m_file + ": " + (m_path.empty() ? std::string("(top level)") : m_path) + ": " + what);
}

Json Json::operator[](const std::string& key) const {
  if (!m_value->is_object()) fail("expected an object, got " + kindName());
  auto it = m_value->find(key);
  const std::string path = m_path.empty() ? key : m_path + "." + key;
  if (it == m_value->end()) Json(*m_value, m_file, path).fail("missing");
  return Json(*it, m_file, path);
}

Json Json::opt(const std::string& key) const {
  static const nlohmann::json kNull;
  const std::string path = m_path.empty() ? key : m_path + "." + key;
  if (!m_value->is_object()) return Json(kNull, m_file, path);
  auto it = m_value->find(key);
  return it == m_value->end() ? Json(kNull, m_file, path) : Json(*it, m_file, path);
}

Json Json::at(size_t i) const {
  if (!m_value->is_array()) fail("expected a list, got " + kindName());
  if (i >= m_value->size()) fail("expected at least " + std::to_string(i + 1) + " elements");
  return Json((*m_value)[i], m_file, m_path + "[" + std::to_string(i) + "]");
}

size_t Json::size() const {
  if (!m_value->is_array() && !m_value->is_object()) fail("expected a list or an object, got " + kindName());
  return m_value->size();
}

std::vector<std::pair<std::string, Json>> Json::members() const {
  if (!m_value->is_object()) fail("expected an object, got " + kindName());
  std::vector<std::pair<std::string, Json>> out;
  out.reserve(m_value->size());
  for (auto it = m_value->begin(); it != m_value->end(); ++it)
    out.emplace_back(it.key(), Json(it.value(), m_file, m_path + "[\"" + it.key() + "\"]"));
  return out;
}

std::vector<Json> Json::elements() const {
  if (!m_value->is_array()) fail("expected a list, got " + kindName());
  std::vector<Json> out;
  out.reserve(m_value->size());
  for (size_t i = 0; i < m_value->size(); ++i) out.emplace_back((*m_value)[i], m_file, m_path + "[" + std::to_string(i) + "]");
  return out;
}

std::string Json::str() const {
  if (!m_value->is_string()) fail("expected a string, got " + kindName());
  return m_value->get<std::string>();
}

int64_t Json::integer() const {
  if (!m_value->is_number_integer()) fail("expected an integer, got " + kindName());
  if (m_value->is_number_unsigned() && m_value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    fail("the integer is too large");
  return m_value->get<int64_t>();
}

int64_t Json::integer(int64_t lo, int64_t hi) const {
  const int64_t v = integer();
  if (v < lo || v > hi) fail(std::to_string(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

double Json::number() const {
  if (!m_value->is_number()) fail("expected a number, got " + kindName());
  return m_value->get<double>();
}

bool Json::boolean() const {
  if (!m_value->is_boolean()) fail("expected true or false, got " + kindName());
  return m_value->get<bool>();
}

std::string Json::str(const std::string& key, const std::string& fallback) const {
  return has(key) ? (*this)[key].str() : fallback;
}
bool Json::boolean(const std::string& key, bool fallback) const { return has(key) ? (*this)[key].boolean() : fallback; }
int64_t Json::integer(const std::string& key, int64_t fallback) const {
  return has(key) ? (*this)[key].integer() : fallback;
}

// ---- Unicode -------------------------------------------------------------------------------------------------

std::u32string codepoints(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // invalid: U+FFFD for one byte (inputs are validated before they get here)
      cp = 0xFFFD;
      n = 1;
    }
    out.push_back(static_cast<char32_t>(cp));
    p += n;
    left -= n;
  }
  return out;
}

std::string utf8(char32_t cp) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) out += utf8(c);
  return out;
}

const char* category(char32_t cp) { return utf8proc_category_string(static_cast<utf8proc_int32_t>(cp)); }

bool isLetter(char32_t cp) {
  const auto c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool isNumber(char32_t cp) {
  const auto c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
}

bool isAlnum(char32_t cp) { return isLetter(cp) || isNumber(cp); }

bool isWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool isBertPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  const auto k = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

std::string normalizeForm(const std::string& text, const std::string& form) {
  int options = UTF8PROC_STABLE;
  if (form == "NFC") options |= UTF8PROC_COMPOSE;
  else if (form == "NFD") options |= UTF8PROC_DECOMPOSE;
  else if (form == "NFKC") options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  else if (form == "NFKD") options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                          static_cast<utf8proc_ssize_t>(text.size()), &out,
                                          static_cast<utf8proc_option_t>(options));
  if (n < 0) throw InputError(std::string("text cannot be normalised: ") + utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

std::string lowercase(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : codepoints(text)) out += utf8(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  return out;
}

// ---- bytes ---------------------------------------------------------------------------------------------------

const std::vector<std::string>& byteToUnicode() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = utf8(printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++));
    }
    return t;
  }();
  return table;
}

std::string byteLevelBytes(const std::string& text) {
  static const std::map<char32_t, char> back = [] {
    std::map<char32_t, char> m;
    const auto& t = byteToUnicode();
    for (int b = 0; b < 256; ++b) m[codepoints(t[b])[0]] = static_cast<char>(b);
    return m;
  }();
  std::string out;
  for (char32_t c : codepoints(text)) {
    auto it = back.find(c);
    if (it != back.end()) out.push_back(it->second);
    else out += utf8(c);
  }
  return out;
}

int hexByte(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  char* end = nullptr;
  const std::string hex = p.substr(3, 2);
  const long v = std::strtol(hex.c_str(), &end, 16);
  return end == hex.c_str() + 2 ? static_cast<int>(v) : -1;
}

std::string displayBytes(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(bytes.data()) + i,
                                                static_cast<utf8proc_ssize_t>(bytes.size() - i), &cp);
    char buf[8];
    if (n > 0 && cp >= 0x20) {
      out.append(bytes, i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    } else if (n > 0 && cp == '\n') {
      out += "\\n", ++i;
    } else if (n > 0 && cp == '\t') {
      out += "\\t", ++i;
    } else if (n > 0 && cp == '\r') {
      out += "\\r", ++i;
    } else {
      std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned char>(bytes[i]));
      out += buf;
      ++i;
    }
  }
  return out;
}

std::string metaspaceLabel(const std::string& p) {
  if (const int b = hexByte(p); b >= 0) {
    if (b == '\n') return "\\n";
    if (b == '\t') return "\\t";
    if (b >= 0x20 && b < 0x7F) return std::string(1, static_cast<char>(b));
    return p;
  }
  std::string spaced;
  const std::string mark = "\u2581";
  for (size_t at = 0; at < p.size();) {
    if (p.compare(at, mark.size(), mark) == 0) {
      spaced += ' ';
      at += mark.size();
    } else {
      spaced += p[at++];
    }
  }
  return displayBytes(spaced);
}

// ---- regex ---------------------------------------------------------------------------------------------------

Regex::Regex(const std::string& pattern, const Json& where) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(error, msg, sizeof msg);
    where.fail("the regular expression is rejected at offset " + std::to_string(offset) + ": " +
               reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter where JIT is unavailable
  m_code = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(m_code)); }

std::vector<std::pair<size_t, size_t>> Regex::findAll(const std::string& text) const {
  std::vector<std::pair<size_t, size_t>> out;
  auto* code = static_cast<pcre2_code*>(m_code);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;  // no match (or a matching limit): the rest is unmatched text
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      start = e;
    } else {  // empty match: step over one code point
      size_t next = b + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      start = next;
    }
  }
  pcre2_match_data_free(md);
  return out;
}

// ---- splitting -----------------------------------------------------------------------------------------------

SplitBehavior splitBehavior(const Json& j) {
  const std::string b = j.str();
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  j.fail("behavior '" + b + "' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

void splitPiece(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
                bool invert, std::vector<Piece>& out) {
  // Cover the piece with spans, each flagged as a match or not.
  struct Span {
    size_t begin, end;
    bool match;
  };
  std::vector<Span> spans;
  size_t at = 0;
  for (const auto& [b, e] : matches) {
    if (b > at) spans.push_back({at, b, false});
    spans.push_back({b, e, true});
    at = e;
  }
  if (at < piece.text.size()) spans.push_back({at, piece.text.size(), false});
  if (invert)
    for (Span& s : spans) s.match = !s.match;

  std::vector<Span> kept;
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const Span& s : spans)
        if (!s.match) kept.push_back(s);
      break;
    case SplitBehavior::Isolated:
      kept = spans;
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool previousMatch = false;
      for (const Span& s : spans) {
        if (s.match && !previousMatch && !kept.empty()) kept.back().end = s.end;  // the delimiter ends the piece
        else kept.push_back(s);
        previousMatch = s.match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previousMatch = false;  // walking backwards: the delimiter starts the following piece
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !previousMatch && !kept.empty()) kept.back().begin = it->begin;
        else kept.push_back(*it);
        previousMatch = it->match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool previousMatch = false;
      for (const Span& s : spans) {
        if (s.match == previousMatch && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(s);
        previousMatch = s.match;
      }
      break;
    }
  }
  for (const Span& s : kept)
    if (s.end > s.begin) out.push_back({piece.text.substr(s.begin, s.end - s.begin), piece.atStart && s.begin == 0});
}

std::vector<std::pair<size_t, size_t>> charMatches(const std::string& text,
                                                   const std::function<bool(char32_t)>& pred) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data()) + i,
                                          static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0) n = 1;
    if (pred(static_cast<char32_t>(cp))) out.emplace_back(i, i + static_cast<size_t>(n));
    i += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace attnscope::tok
