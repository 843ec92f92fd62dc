#include "base/Unicode.h"


#include "attnscope/Errors.h"

namespace attnscope::unicode {

namespace {
// Returns the code point at text[i] and advances i; -1 when invalid.
long decodeOne(const std::string& text, size_t& i) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  unsigned char c = s[i];
  if (c < 0x80) {
    ++i;
    return c;
  }
  int len = 0;
  char32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return -1;
  }
  if (i + len > n) return -1;
  for (int k = 1; k < len; ++k) {
    if ((s[i + k] & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (s[i + k] & 0x3F);
  }
  // Reject overlong forms, surrogates and out-of-range values.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return -1;
  i += len;
  return static_cast<long>(cp);
}
}  // namespace

bool isValidUtf8(const std::string& text, size_t* badOffset) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t at = i;
    if (decodeOne(text, i) < 0) {
      if (badOffset) *badOffset = at;
      return false;
    }
  }
  return true;
}

std::u32string decodeUtf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t at = i;
    const long cp = decodeOne(text, i);
    if (cp < 0) throw InputError("text is not valid UTF-8 (invalid byte sequence at byte " + std::to_string(at) + ")");
    out.push_back(static_cast<char32_t>(cp));
  }
  return out;
}

std::u32string decodeUtf8Lossy(const std::string& text) {
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t at = i;
    const long cp = decodeOne(text, i);
    if (cp < 0) {
      out.push_back(0xFFFD);
      i = at + 1;
    } else {
      out.push_back(static_cast<char32_t>(cp));
    }
  }
  return out;
}

std::string encodeUtf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

std::string encodeUtf8(const std::u32string& text) {
  std::string out;
  for (char32_t c : text) out += encodeUtf8(c);
  return out;
}

}  // namespace attnscope::unicode
