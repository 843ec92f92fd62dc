// Fuzz target: the legacy vocabulary files. Input split at the first NUL byte: before it vocab.json and after it
// merges.txt (byte-level BPE, GPT-2 style); without a NUL byte the whole input is a WordPiece vocab.txt.
#include <cstring>

#include "FuzzSupport.h"
#include "attnscope/Tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto dir = fuzz::scratch() / "vocab";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  if (nul) {
    fuzz::writeFile("vocab/vocab.json", data, static_cast<size_t>(nul - data));
    fuzz::writeFile("vocab/merges.txt", nul + 1, size - static_cast<size_t>(nul - data) - 1);
  } else {
    fuzz::writeFile("vocab/vocab.txt", data, size);
  }
  return fuzz::guarded("vocab-files", [&] {
    auto tok = attnscope::Tokenizer::load(dir.string());
    if (!tok) return;
    for (const char* text : {"Once upon a time", "héllo wörld 12,345!", "[CLS] a [SEP]"}) {
      const auto enc = tok->encode(text);
      (void)tok->decode(enc.ids);
    }
  });
}
