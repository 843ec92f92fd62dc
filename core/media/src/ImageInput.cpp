#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/tensor.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"
#include "attnscope/Media.h"
#include "attnscope/PillowResample.h"

#ifdef ATTNSCOPE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace attnscope {

#ifndef ATTNSCOPE_HAVE_OPENCV
namespace {
[[noreturn]] void noOpenCv() {
  throw InputError("this build of AttnScope has no OpenCV: image input is unavailable (install libopencv-dev and "
                   "rebuild)");
}
}  // namespace
#endif

RgbImage decodeImage(const std::string& path) {
#ifndef ATTNSCOPE_HAVE_OPENCV
  noOpenCv();
#else
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError("image '" + path + "' does not exist or is not a file");
  if (std::filesystem::file_size(path, ec) == 0) throw InputError("image '" + path + "' is empty (0 bytes)");
  cv::Mat m;
  try {
    // IMREAD_COLOR: applies EXIF orientation, converts grey/RGBA/CMYK/16-bit to 8-bit BGR.
    m = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw InputError("image '" + path + "' cannot be decoded: " + e.what());
  }
  if (m.empty() || m.cols < 1 || m.rows < 1)
    throw InputError("image '" + path + "' cannot be decoded (not a PNG/JPEG/BMP/WebP/TIFF image, or corrupt)");
  cv::Mat rgb;
  cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB);
  RgbImage out;
  out.width = rgb.cols;
  out.height = rgb.rows;
  out.pixels.assign(rgb.data, rgb.data + static_cast<size_t>(rgb.total()) * 3);
  return out;
#endif
}

namespace {

/// A size entry of preprocessor_config.json: an int (a square, or the shortest edge for the processors that say
/// so), {"height", "width"} or {"shortest_edge"}.
void readSize(const nlohmann::json& v, const std::string& path, const std::string& key, bool intIsShortestEdge,
              int& height, int& width, int& shortestEdge) {
  auto positive = [&](const nlohmann::json& x, const std::string& what) {
    // 4096 is beyond every released image processor (ViT 224, DINOv2 518, SAM 1024) and keeps a damaged value
    // from resizing into gigapixels.
    if (!x.is_number_integer() || x.get<int64_t>() < 1 || x.get<int64_t>() > 4096)
      throw ModelLoadError("'" + path + "': " + what + " must be a whole number of pixels from 1 to 4096");
    return x.get<int>();
  };
  if (v.is_number()) {
    const int n = positive(v, key);
    if (intIsShortestEdge) shortestEdge = n, height = width = 0;
    else height = width = n, shortestEdge = 0;
  } else if (v.is_object() && v.contains("shortest_edge")) {
    shortestEdge = positive(v["shortest_edge"], key + ".shortest_edge");
    height = width = 0;
  } else if (v.is_object() && v.contains("height") && v.contains("width")) {
    height = positive(v["height"], key + ".height");
    width = positive(v["width"], key + ".width");
    shortestEdge = 0;
  } else {
    throw ModelLoadError("'" + path + "': " + key + " must be a number, {\"height\", \"width\"} or {\"shortest_edge\"}");
  }
}

/// HF's get_resize_output_image_size(default_to_square=False): the short side becomes \p edge, the long side
/// int(edge · long / short) (truncated).
std::pair<int, int> shortestEdgeSize(int height, int width, int edge) {
  const bool portrait = width <= height;
  const int shortSide = portrait ? width : height, longSide = portrait ? height : width;
  const int newLong = static_cast<int>(static_cast<int64_t>(edge) * longSide / shortSide);
  return portrait ? std::make_pair(newLong, edge) : std::make_pair(edge, newLong);  // (height, width)
}

/// HF's center_crop: top = (H − h) // 2 (floor), zero padding (centred, rounded up) when the image is smaller.
RgbImage centerCrop(const RgbImage& in, int cropHeight, int cropWidth) {
  auto floorDiv2 = [](int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
  int top = floorDiv2(in.height - cropHeight), left = floorDiv2(in.width - cropWidth);
  const int padTop = in.height < cropHeight ? (cropHeight - in.height + 1) / 2 : 0;
  const int padLeft = in.width < cropWidth ? (cropWidth - in.width + 1) / 2 : 0;
  top += padTop;
  left += padLeft;
  RgbImage out;
  out.height = cropHeight;
  out.width = cropWidth;
  out.pixels.assign(static_cast<size_t>(cropHeight) * cropWidth * 3, 0);
  for (int y = 0; y < cropHeight; ++y) {
    const int sy = y + top - padTop;  // row in the input
    if (sy < 0 || sy >= in.height) continue;
    for (int x = 0; x < cropWidth; ++x) {
      const int sx = x + left - padLeft;
      if (sx < 0 || sx >= in.width) continue;
      for (int c = 0; c < 3; ++c)
        out.pixels[(static_cast<size_t>(y) * cropWidth + x) * 3 + c] =
            in.pixels[(static_cast<size_t>(sy) * in.width + sx) * 3 + c];
    }
  }
  return out;
}

RgbImage resized(const RgbImage& in, int height, int width, int resample) {
  RgbImage out;
  out.height = height;
  out.width = width;
  out.pixels = pillowResize(in.pixels, in.width, in.height, 3, width, height, pillowFilter(resample));
  return out;
}

}  // namespace

ImagePreprocessing ImagePreprocessing::load(const std::string& modelDir, const ModelInfo& info) {
  ImagePreprocessing p;
  p.height = info.imageHeight > 0 ? info.imageHeight : 224;
  p.width = info.imageWidth > 0 ? info.imageWidth : 224;
  const std::string path = (std::filesystem::path(modelDir) / "preprocessor_config.json").string();
  std::ifstream f(path);
  if (!f) {
    warn("'" + path + "' not found: resizing to " + std::to_string(p.width) + "x" + std::to_string(p.height) +
         " with bilinear filtering and normalising with mean = std = 0.5 (ViTImageProcessor defaults)");
    return p;
  }
  nlohmann::json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    throw ModelLoadError("'" + path + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw ModelLoadError("'" + path + "' is not a JSON object");
  try {
    std::string type = j.value("image_processor_type", std::string());
    if (type.empty()) type = j.value("feature_extractor_type", std::string("ViTImageProcessor"));
    for (const char* suffix : {"FeatureExtractor", "ImageProcessorFast"}) {  // older names, fast variants
      const size_t at = type.rfind(suffix);
      if (at != std::string::npos && at + std::string(suffix).size() == type.size())
        type = type.substr(0, at) + "ImageProcessor";
    }
    // Defaults of each processor class (transformers 4.50).
    bool shortestEdgeDefault = false;
    if (type == "ViTImageProcessor") {
      p.resample = 2;
    } else if (type == "DeiTImageProcessor") {
      p.height = p.width = 256;
      p.resample = 3;
      p.doCenterCrop = true;
      p.cropHeight = p.cropWidth = 224;
    } else if (type == "BitImageProcessor" || type == "CLIPImageProcessor") {
      shortestEdgeDefault = true;
      p.shortestEdge = 224;
      p.height = p.width = 0;
      p.resample = 3;
      p.doCenterCrop = true;
      p.cropHeight = p.cropWidth = 224;
      p.mean = type == "CLIPImageProcessor" ? std::vector<double>{0.48145466, 0.4578275, 0.40821073}
                                            : std::vector<double>{0.485, 0.456, 0.406};
      p.std = type == "CLIPImageProcessor" ? std::vector<double>{0.26862954, 0.26130258, 0.27577711}
                                           : std::vector<double>{0.229, 0.224, 0.225};
    } else if (type == "ConvNextImageProcessor") {
      shortestEdgeDefault = true;
      p.shortestEdge = 384;
      p.height = p.width = 0;
      p.resample = 2;
      p.cropPct = j.value("crop_pct", 224.0 / 256.0);
      if (!(p.cropPct > 0.0 && p.cropPct <= 1.0))
        throw ModelLoadError("'" + path + "': crop_pct must be a fraction in (0, 1]");
      p.mean = {0.485, 0.456, 0.406};
      p.std = {0.229, 0.224, 0.225};
    } else {
      throw ModelLoadError("'" + path + "': image processor '" + type +
                           "' is not supported (supported: ViTImageProcessor, DeiTImageProcessor, BitImageProcessor, "
                           "CLIPImageProcessor, ConvNextImageProcessor)");
    }
    p.processor = type;
    p.doResize = j.value("do_resize", true);
    if (j.contains("size") && !j["size"].is_null())
      readSize(j["size"], path, "size", shortestEdgeDefault, p.height, p.width, p.shortestEdge);
    if (j.contains("resample") && !j["resample"].is_null()) {
      const auto& r = j["resample"];
      // An integer Pillow filter code; a float or a huge number is refused before it is converted.
      if (!r.is_number_integer() || r.get<int64_t>() < 0 || r.get<int64_t>() > 255)
        throw ConfigError("'" + path + "': resample: expected a Pillow filter code (an integer 0-5), got " + r.dump());
      p.resample = static_cast<int>(r.get<int64_t>());
      pillowFilter(p.resample);  // refuses codes Pillow does not have
    }
    p.doCenterCrop = j.value("do_center_crop", p.doCenterCrop);
    if (j.contains("crop_size") && !j["crop_size"].is_null()) {
      int edge = 0;
      readSize(j["crop_size"], path, "crop_size", false, p.cropHeight, p.cropWidth, edge);
      if (edge > 0) p.cropHeight = p.cropWidth = edge;
    }
    if (p.doCenterCrop && (p.cropHeight < 1 || p.cropWidth < 1))
      throw ModelLoadError("'" + path + "': do_center_crop is set but crop_size is missing");
    if (p.doResize && p.shortestEdge == 0 && (p.height < 1 || p.width < 1))
      throw ModelLoadError("'" + path + "': size is missing");
    // A model of one input size: the size the processor makes is checked before any image is resized.
    if (!info.anyImageSize && info.imageHeight > 0 && info.imageWidth > 0) {
      int outH = 0, outW = 0;
      if (p.doCenterCrop) outH = p.cropHeight, outW = p.cropWidth;
      else if (p.doResize && p.shortestEdge > 0 && (p.cropPct > 0 || info.imageHeight == info.imageWidth))
        outH = outW = p.shortestEdge;  // ConvNeXt crops to it; a square input needs its short side to be it
      else if (p.doResize && p.shortestEdge == 0) outH = p.height, outW = p.width;
      if (outH > 0 && (outH != info.imageHeight || outW != info.imageWidth))
        throw ModelLoadError("'" + path + "': the processor makes " + std::to_string(outW) + "x" + std::to_string(outH) +
                             " images but the model takes " + std::to_string(info.imageWidth) + "x" +
                             std::to_string(info.imageHeight));
    }
    p.doRescale = j.value("do_rescale", true);
    p.rescaleFactor = j.value("rescale_factor", 1.0 / 255.0);
    if (!std::isfinite(p.rescaleFactor)) throw ModelLoadError("'" + path + "': rescale_factor must be a finite number");
    p.doNormalize = j.value("do_normalize", true);
    if (j.contains("image_mean")) p.mean = j["image_mean"].get<std::vector<double>>();
    if (j.contains("image_std")) p.std = j["image_std"].get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelLoadError("'" + path + "': unexpected value: " + e.what());
  } catch (const InputError& e) {
    throw ModelLoadError("'" + path + "': " + e.what());
  }
  if (p.mean.size() != 3 || p.std.size() != 3)
    throw ModelLoadError("'" + path + "': image_mean and image_std must have 3 values");
  for (double s : p.std)
    if (!(s != 0.0)) throw ModelLoadError("'" + path + "': image_std must not be 0");
  return p;
}

at::Tensor preprocessImage(const RgbImage& image, const ImagePreprocessing& p) {
  if (image.width < 1 || image.height < 1) throw InputError("the image is empty");
  RgbImage work = image;
  if (p.doResize) {
    if (p.cropPct > 0 && p.shortestEdge > 0 && p.shortestEdge < 384) {
      // ConvNeXt: resize the short side to shortest_edge / crop_pct, then crop a shortest_edge square.
      const int edge = static_cast<int>(p.shortestEdge / p.cropPct);
      const auto [h, w] = shortestEdgeSize(work.height, work.width, edge);
      work = resized(work, h, w, p.resample);
      work = centerCrop(work, p.shortestEdge, p.shortestEdge);
    } else if (p.cropPct > 0 && p.shortestEdge > 0) {
      work = resized(work, p.shortestEdge, p.shortestEdge, p.resample);  // ConvNeXt ≥ 384: warp to a square
    } else if (p.shortestEdge > 0) {
      const auto [h, w] = shortestEdgeSize(work.height, work.width, p.shortestEdge);
      work = resized(work, h, w, p.resample);
    } else {
      work = resized(work, p.height, p.width, p.resample);
    }
  }
  if (p.doCenterCrop) work = centerCrop(work, p.cropHeight, p.cropWidth);
  // HF: rescale in float64 then float32; normalise in float32.
  const int64_t H = work.height, W = work.width;
  at::Tensor t = at::empty({3, H, W}, at::TensorOptions().dtype(at::kFloat));  // [3, H, W]
  float* out = t.data_ptr<float>();
  const float mean[3] = {static_cast<float>(p.mean[0]), static_cast<float>(p.mean[1]), static_cast<float>(p.mean[2])};
  const float std[3] = {static_cast<float>(p.std[0]), static_cast<float>(p.std[1]), static_cast<float>(p.std[2])};
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < H * W; ++i) {
      float v = static_cast<float>(work.pixels[static_cast<size_t>(i) * 3 + c]);
      if (p.doRescale) v = static_cast<float>(static_cast<double>(work.pixels[static_cast<size_t>(i) * 3 + c]) *
                                              p.rescaleFactor);
      if (p.doNormalize) v = (v - mean[c]) / std[c];
      out[c * H * W + i] = v;
    }
  return t.unsqueeze(0);  // [1, 3, H, W]
}

PreparedInput prepareImage(const LoadedModel& m, const std::string& path) {
  const ModelInfo& info = m.model->info();
  if (info.modality != "image")
    throw InputError("image input: model '" + m.dir + "' (" + info.architecture + ") takes " + info.modality +
                     " input, not an image");
  const RgbImage img = decodeImage(path);
  const ImagePreprocessing p = ImagePreprocessing::load(m.dir, info);
  at::Tensor pixels = preprocessImage(img, p);  // [1, 3, H, W]
  if (info.anyImageSize && (pixels.size(2) < info.patchSize || pixels.size(3) < info.patchSize))
    throw InputError("image input: preprocessing gives " + std::to_string(pixels.size(3)) + "x" +
                     std::to_string(pixels.size(2)) + " pixels, smaller than one " + std::to_string(info.patchSize) +
                     "-pixel patch");
  if (!info.anyImageSize && (pixels.size(2) != info.imageHeight || pixels.size(3) != info.imageWidth))
    throw InputError("image input: preprocessing gives " + std::to_string(pixels.size(3)) + "x" +
                     std::to_string(pixels.size(2)) + " pixels but the model takes " + std::to_string(info.imageWidth) +
                     "x" + std::to_string(info.imageHeight) + " (check preprocessor_config.json)");
  PreparedInput in;
  in.tensors["pixel_values"] = pixels;
  in.description = {{"image", std::filesystem::absolute(path).string()},
                    {"image_size", {img.width, img.height}}};
  labelPositions(m, in);
  return in;
}

}  // namespace attnscope
