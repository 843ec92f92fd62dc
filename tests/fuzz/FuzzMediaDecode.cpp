// Fuzz target: the image and audio decode wrappers (OpenCV, libsndfile + libsoxr). The first byte chooses: even =
// image, odd = audio.
#include "FuzzSupport.h"
#include "attnscope/Media.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  return fuzz::guarded("media", [&] {
    if (data[0] % 2 == 0) {
      const auto img = attnscope::decodeImage(fuzz::writeFile("m.img", data + 1, size - 1));
      (void)img;
    } else {
      const auto clip = attnscope::decodeAudio(fuzz::writeFile("m.audio", data + 1, size - 1), 0.0, 30.0, 16000);
      (void)clip;
    }
  });
}
