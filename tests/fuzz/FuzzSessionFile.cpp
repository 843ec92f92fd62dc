// Fuzz target: reading a session file (.attnscope: captures, comparison and state).
#include "FuzzSupport.h"
#include "attnscope/SessionFile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::guarded("session", [&] {
    const auto s = attnscope::readSession(fuzz::writeFile("s.attnscope", data, size));
    (void)s;
  });
}
