// Fuzz target: preprocessor_config.json -> the image processor (ViT/DeiT/BiT/CLIP/ConvNeXt/DINOv2 rules), then
// preprocessing a real image with it.
#include "FuzzSupport.h"
#include "attnscope/Media.h"
#include "attnscope/Model.h"

#ifndef FUZZ_IMAGE
#error "FUZZ_IMAGE: a small PNG"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const attnscope::RgbImage image = attnscope::decodeImage(FUZZ_IMAGE);
  std::filesystem::create_directories(fuzz::scratch() / "pre");
  return fuzz::guarded("preprocessor", [&] {
    fuzz::writeFile("pre/preprocessor_config.json", data, size);
    attnscope::ModelInfo info;
    info.modality = "image";
    info.imageHeight = info.imageWidth = 32;
    const auto p = attnscope::ImagePreprocessing::load((fuzz::scratch() / "pre").string(), info);
    (void)attnscope::preprocessImage(image, p);
  });
}
