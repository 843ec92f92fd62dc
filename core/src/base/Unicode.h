#pragma once
// UTF-8 decoding, encoding and validation. Unicode properties and normalisation come from utf8proc
// (core/src/tokenizers/TokenizerParts.h).

#include <cstdint>
#include <string>
#include <vector>

namespace attnscope::unicode {

/// Decodes UTF-8. Throws InputError naming the byte offset when \p text is not valid UTF-8.
std::u32string decodeUtf8(const std::string& text);
/// Decodes UTF-8, replacing invalid sequences with U+FFFD (for display of byte pieces).
std::u32string decodeUtf8Lossy(const std::string& text);
std::string encodeUtf8(char32_t cp);
std::string encodeUtf8(const std::u32string& text);
bool isValidUtf8(const std::string& text, size_t* badOffset = nullptr);

}  // namespace attnscope::unicode
