#include <ATen/TensorOperators.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/tensor.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"
#include "attnscope/Media.h"

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
  try {
    p.doResize = j.value("do_resize", true);
    if (j.contains("size")) {
      const auto& s = j["size"];
      if (s.is_number()) {
        p.height = p.width = s.get<int>();
      } else if (s.contains("shortest_edge")) {
        p.shortestEdge = s["shortest_edge"].get<int>();
      } else {
        p.height = s.value("height", p.height);
        p.width = s.value("width", p.width);
      }
    }
    p.resample = j.value("resample", 2);
    p.doCenterCrop = j.value("do_center_crop", false);
    if (j.contains("crop_size")) {
      const auto& c = j["crop_size"];
      p.cropHeight = c.is_number() ? c.get<int>() : c.value("height", 0);
      p.cropWidth = c.is_number() ? c.get<int>() : c.value("width", 0);
    }
    p.doRescale = j.value("do_rescale", true);
    p.rescaleFactor = j.value("rescale_factor", 1.0 / 255.0);
    p.doNormalize = j.value("do_normalize", true);
    if (j.contains("image_mean")) p.mean = j["image_mean"].get<std::vector<double>>();
    if (j.contains("image_std")) p.std = j["image_std"].get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelLoadError("'" + path + "': unexpected value: " + e.what());
  }
  if (p.mean.size() != 3 || p.std.size() != 3)
    throw ModelLoadError("'" + path + "': image_mean and image_std must have 3 values");
  return p;
}

at::Tensor preprocessImage(const RgbImage& image, const ImagePreprocessing& p) {
#ifndef ATTNSCOPE_HAVE_OPENCV
  noOpenCv();
#else
  cv::Mat m(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat work = m;
  auto resizeTo = [&](int w, int h) {
    if (w == work.cols && h == work.rows) return;
    int interp = cv::INTER_LINEAR;
    const bool down = w < work.cols || h < work.rows;
    if (down && p.resample != 0) {
      interp = cv::INTER_AREA;  // antialiased, like PIL's filters on downscale
    } else {
      switch (p.resample) {
        case 0: interp = cv::INTER_NEAREST; break;
        case 1: interp = cv::INTER_LANCZOS4; break;
        case 3: interp = cv::INTER_CUBIC; break;
        default: interp = cv::INTER_LINEAR; break;
      }
    }
    cv::Mat out;
    cv::resize(work, out, cv::Size(w, h), 0, 0, interp);
    work = out;
  };
  if (p.doResize) {
    if (p.shortestEdge > 0) {
      const double s = static_cast<double>(p.shortestEdge) / std::min(work.cols, work.rows);
      resizeTo(std::max(1, static_cast<int>(work.cols * s)), std::max(1, static_cast<int>(work.rows * s)));
    } else {
      resizeTo(p.width, p.height);
    }
  }
  if (p.doCenterCrop && p.cropHeight > 0 && p.cropWidth > 0) {
    // HF center_crop: top = (h - crop_h) // 2, padding with zeros when the image is smaller.
    cv::Mat canvas = cv::Mat::zeros(std::max(p.cropHeight, work.rows), std::max(p.cropWidth, work.cols), CV_8UC3);
    work.copyTo(canvas(cv::Rect((canvas.cols - work.cols) / 2, (canvas.rows - work.rows) / 2, work.cols, work.rows)));
    work = canvas(cv::Rect((canvas.cols - p.cropWidth) / 2, (canvas.rows - p.cropHeight) / 2, p.cropWidth,
                           p.cropHeight))
               .clone();
  }
  if (!work.isContinuous()) work = work.clone();
  at::Tensor t = at::from_blob(work.data, {work.rows, work.cols, 3}, at::TensorOptions().dtype(at::kByte))
                     .to(at::kFloat)
                     .permute({2, 0, 1})
                     .contiguous();  // [3, H, W]
  if (p.doRescale) t = t * p.rescaleFactor;
  if (p.doNormalize)
    t = (t - at::tensor(p.mean, at::kDouble).to(at::kFloat).view({3, 1, 1})) /
        at::tensor(p.std, at::kDouble).to(at::kFloat).view({3, 1, 1});  // [3, H, W]
  return t.unsqueeze(0);                                               // [1, 3, H, W]
#endif
}

PreparedInput prepareImage(const LoadedModel& m, const std::string& path) {
  const ModelInfo& info = m.model->info();
  if (info.modality != "image")
    throw InputError("--image: model '" + m.dir + "' (" + info.architecture + ") takes " + info.modality +
                     " input, not an image");
  const RgbImage img = decodeImage(path);
  const ImagePreprocessing p = ImagePreprocessing::load(m.dir, info);
  at::Tensor pixels = preprocessImage(img, p);  // [1, 3, H, W]
  if (pixels.size(2) != info.imageHeight || pixels.size(3) != info.imageWidth)
    throw InputError("--image: preprocessing gives " + std::to_string(pixels.size(3)) + "x" +
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
