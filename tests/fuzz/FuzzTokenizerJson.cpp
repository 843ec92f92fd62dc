// Fuzz target: tokenizer.json -> the tokenizer pipeline, then encode and decode sample strings.
#include "FuzzSupport.h"
#include "attnscope/Tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::filesystem::create_directories(fuzz::scratch() / "tok");
  return fuzz::guarded("tokenizer-json", [&] {
    fuzz::writeFile("tok/tokenizer.json", data, size);
    auto tok = attnscope::Tokenizer::load((fuzz::scratch() / "tok").string());
    if (!tok) return;
    for (const char* text : {"Once upon a time", "héllo wörld 12,345!", "", "  \t\n", "日本語のテキスト"}) {
      const auto enc = tok->encode(text);
      (void)tok->decode(enc.ids);
    }
  });
}
