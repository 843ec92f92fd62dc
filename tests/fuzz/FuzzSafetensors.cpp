// Fuzz target: the safetensors reader (header length, JSON header, dtypes, shapes, offsets) and reading every tensor.
#include "FuzzSupport.h"
#include "attnscope/SafetensorsFile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::guarded("safetensors", [&] {
    auto file = attnscope::SafetensorsFile::open(fuzz::writeFile("f.safetensors", data, size));
    for (const auto& name : file->names()) {
      const at::Tensor t = file->tensor(name);  // [any]
      if (t.numel() > 0) (void)t.sum();
    }
    (void)file->metadata();
  });
}
