// Fuzz target: config.json -> model family construction against a small real weights file (the golden random
// Llama): every number is range-checked before it sizes anything, and weights that do not match are refused.
#include "FuzzSupport.h"
#include "attnscope/Engine.h"

#ifndef FUZZ_WEIGHTS
#error "FUZZ_WEIGHTS: a small model.safetensors"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    const auto d = fuzz::scratch() / "model";
    std::filesystem::create_directories(d);
    std::filesystem::copy_file(FUZZ_WEIGHTS, d / "model.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
    return d;
  }();
  return fuzz::guarded("config", [&] {
    fuzz::writeFile("model/config.json", data, size);
    auto model = attnscope::loadModel(dir.string(), "cpu", "auto");
    (void)model;
  });
}
