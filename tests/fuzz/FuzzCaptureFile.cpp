// Fuzz target: reading a capture file (what `figure` and `overlay` open).
#include "FuzzSupport.h"
#include "attnscope/EngineSession.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::guarded("capture", [&] {
    std::string name;
    const auto c = attnscope::loadCaptureFile(fuzz::writeFile("c.safetensors", data, size), &name);
    (void)c;
  });
}
