#include <ATen/TensorOperators.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/tensor.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attnscope/AudioFeatures.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/Errors.h"
#include "attnscope/Analysis.h"
#include "attnscope/CaptureFile.h"
#include "attnscope/Engine.h"
#include "attnscope/Media.h"
#include "attnscope/OverlayRenderer.h"
#include "attnscope/SafetensorsFile.h"

#ifdef ATTNSCOPE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace attnscope {

#ifdef ATTNSCOPE_HAVE_OPENCV
namespace {

/// 256-entry BGR lookup table from colour stops (same stops as the GUI's maps).
cv::Mat colormapLut(const std::string& name) {
  std::vector<std::array<double, 3>> stops;  // RGB 0..1
  if (name == "magma")
    stops = {{0.001, 0.000, 0.014}, {0.232, 0.059, 0.437}, {0.550, 0.161, 0.506}, {0.868, 0.288, 0.409},
             {0.994, 0.624, 0.427}, {0.987, 0.991, 0.750}};
  else if (name == "greys")
    stops = {{1, 1, 1}, {0, 0, 0}};
  else if (name == "greys_r")
    stops = {{0, 0, 0}, {1, 1, 1}};
  else
    stops = {{0.267, 0.005, 0.329}, {0.283, 0.141, 0.458}, {0.254, 0.265, 0.530}, {0.207, 0.372, 0.553},
             {0.164, 0.471, 0.558}, {0.128, 0.567, 0.551}, {0.135, 0.659, 0.518}, {0.267, 0.749, 0.441},
             {0.478, 0.821, 0.318}, {0.741, 0.873, 0.150}, {0.993, 0.906, 0.144}};
  cv::Mat lut(1, 256, CV_8UC3);
  for (int i = 0; i < 256; ++i) {
    const double x = i / 255.0 * (stops.size() - 1);
    const size_t a = std::min(static_cast<size_t>(x), stops.size() - 2);
    const double t = x - a;
    for (int c = 0; c < 3; ++c)
      lut.at<cv::Vec3b>(0, i)[2 - c] =
          static_cast<uint8_t>(std::lround(255 * ((1 - t) * stops[a][c] + t * stops[a + 1][c])));
  }
  return lut;
}

/// Float map (any range) -> colour image with the LUT, normalised to [0, max].
cv::Mat colorize(const cv::Mat& values, const cv::Mat& lut, double maxValue) {
  cv::Mat u8;
  values.convertTo(u8, CV_8U, maxValue > 0 ? 255.0 / maxValue : 0.0);
  cv::Mat bgr;
  cv::cvtColor(u8, bgr, cv::COLOR_GRAY2BGR);
  cv::Mat out;
  cv::LUT(bgr, lut, out);
  return out;
}

cv::Mat fromTensor2d(const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous();
  return cv::Mat(static_cast<int>(c.size(0)), static_cast<int>(c.size(1)), CV_32F, c.data_ptr<float>()).clone();
}

void addTitleAndBar(cv::Mat& canvas, const std::string& title, const cv::Mat& lut, double maxValue) {
  cv::Mat framed(canvas.rows + 40, canvas.cols + 70, CV_8UC3, cv::Scalar(255, 255, 255));
  canvas.copyTo(framed(cv::Rect(0, 40, canvas.cols, canvas.rows)));
  cv::putText(framed, title, cv::Point(6, 26), cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(20, 20, 20), 1, cv::LINE_AA);
  // Colour bar: top = max, bottom = 0.
  const int x0 = canvas.cols + 12, h = canvas.rows;
  for (int y = 0; y < h; ++y) {
    const int idx = 255 - static_cast<int>(std::lround(255.0 * y / std::max(1, h - 1)));
    cv::line(framed, cv::Point(x0, 40 + y), cv::Point(x0 + 14, 40 + y), cv::Scalar(lut.at<cv::Vec3b>(0, idx)));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", maxValue);
  cv::putText(framed, buf, cv::Point(x0 - 2, 36), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(20, 20, 20), 1, cv::LINE_AA);
  cv::putText(framed, "0", cv::Point(x0 + 18, 40 + h - 2), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(20, 20, 20), 1,
              cv::LINE_AA);
  canvas = framed;
}

void writePng(const cv::Mat& img, const std::string& outPath) {
  std::vector<uchar> png;
  bool ok = false;
  try {
    ok = cv::imencode(".png", img, png);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) throw InputError("cannot encode the PNG for '" + outPath + "'");
  writeFileAtomically(outPath, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

}  // namespace
#endif

#ifdef ATTNSCOPE_HAVE_OPENCV
namespace {
cv::Mat overlayMat(const std::string& capturePath, const at::Tensor& weightsIn, const std::string& title,
                   const OverlayOptions& options) {
  auto file = SafetensorsFile::open(capturePath);
  auto metaIt = file->metadata().find("attnscope");
  if (metaIt == file->metadata().end())
    throw InputError("'" + capturePath + "' is not an AttnScope capture (no attnscope metadata)");
  const nlohmann::json meta = nlohmann::json::parse(metaIt->second);
  const std::string modality = meta.value("modality", "text");
  const nlohmann::json layout = meta.value("layout", nlohmann::json::object());
  const int64_t prefix = layout.value("prefix_tokens", 0);
  const at::Tensor weights = weightsIn.to(at::kFloat).flatten();  // [k]
  const cv::Mat lut = colormapLut(options.colormap);
  if (modality == "image") {
    if (!layout.contains("patch_grid")) throw InputError("'" + capturePath + "' does not record the patch grid");
    const int gh = layout["patch_grid"][0], gw = layout["patch_grid"][1];
    if (weights.size(0) != prefix + gh * gw)
      throw InputError("overlay: the query row has " + std::to_string(weights.size(0)) + " keys; expected " +
                       std::to_string(prefix + gh * gw) + " ([prefix] + patches)");
    const at::Tensor grid = weights.narrow(0, prefix, gh * gw).view({gh, gw});  // [grid_h, grid_w]
    // The picture: the original file when it is still there, else the model input de-normalised.
    cv::Mat img;
    const nlohmann::json input = meta.value("input", nlohmann::json::object());
    // The original picture, unless the processor cropped it (its shape no longer matches the patch grid): then the
    // pixels the model saw.
    bool original = input.contains("image") && std::filesystem::exists(input["image"].get<std::string>());
    if (original && input.contains("image_size") && input["image_size"].is_array() && input["image_size"].size() == 2) {
      const double w = input["image_size"][0].get<double>(), h = input["image_size"][1].get<double>();
      if (std::fabs(w / h - static_cast<double>(gw) / gh) > 0.02 * static_cast<double>(gw) / gh && file->has("pixel_values"))
        original = false;
    }
    if (original) {
      const RgbImage rgb = decodeImage(input["image"].get<std::string>());
      cv::Mat m(rgb.height, rgb.width, CV_8UC3, const_cast<uint8_t*>(rgb.pixels.data()));
      cv::cvtColor(m, img, cv::COLOR_RGB2BGR);
    } else if (file->has("pixel_values")) {
      at::Tensor px = file->tensor("pixel_values")[0];  // [3, H, W]
      px = (px - px.min()) / (px.max() - px.min() + 1e-12) * 255.0;
      const at::Tensor hwc = px.permute({1, 2, 0}).flip({2}).contiguous().to(at::kByte);  // [H, W, 3] BGR
      img = cv::Mat(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3, hwc.data_ptr()).clone();
    } else {
      throw InputError("'" + capturePath + "' holds neither the image path nor pixel_values");
    }
    const double scale = std::max(1.0, 448.0 / std::max(img.cols, img.rows));
    if (scale > 1) cv::resize(img, img, cv::Size(), scale, scale, cv::INTER_CUBIC);
    const double maxValue = grid.max().item<double>();
    cv::Mat map;
    cv::resize(fromTensor2d(grid), map, img.size(), 0, 0, cv::INTER_LINEAR);
    const cv::Mat colors = colorize(map, lut, maxValue);
    cv::Mat out;
    cv::addWeighted(img, 1.0 - options.alpha, colors, options.alpha, 0.0, out);
    addTitleAndBar(out, title, lut, maxValue);
    return out;
  }
  if (modality == "audio") {
    const double spp = layout.value("seconds_per_position", 0.0);
    const int rate = layout.value("sample_rate", 16000);
    at::Tensor spec;  // [mels, frames] log-mel, 10 ms frames
    if (file->has("input_features") && file->tensor("input_features").dim() == 3) {
      spec = file->tensor("input_features")[0];
    } else if (file->has("input_values")) {
      const at::Tensor wave = file->tensor("input_values").flatten();
      spec = whisperLogMel(wave, melFilterBank(80, 400, rate), 400, 160, wave.size(0) / 160);
    } else {
      throw InputError("'" + capturePath + "' holds no audio input (input_values or input_features)");
    }
    const int64_t frames = weights.size(0) - prefix;
    const double clipSeconds = spec.size(1) * 160.0 / rate;
    const int W = 1000, specH = 220, stripH = 36;
    cv::Mat specImg;
    cv::resize(fromTensor2d(spec.flip({0})), specImg, cv::Size(W, specH), 0, 0, cv::INTER_AREA);
    double lo, hi;
    cv::minMaxLoc(specImg, &lo, &hi);
    specImg = (specImg - lo) / std::max(1e-6, hi - lo);
    const cv::Mat specBgr = colorize(specImg, colormapLut("greys_r"), 1.0);
    // Attention over time, drawn where each frame position sits on the time axis.
    const at::Tensor w = weights.narrow(0, prefix, frames);
    const double maxValue = w.max().item<double>();
    cv::Mat strip(stripH, W, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::Mat canvas(specH + stripH, W, CV_8UC3);
    specBgr.copyTo(canvas(cv::Rect(0, 0, W, specH)));
    std::vector<cv::Point> curve;
    for (int64_t i = 0; i < frames; ++i) {
      const double t0 = i * spp, t1 = (i + 1) * spp;
      if (t0 >= clipSeconds) break;
      const int x0 = static_cast<int>(t0 / clipSeconds * W), x1 = std::min(W, static_cast<int>(std::ceil(t1 / clipSeconds * W)));
      const double v = w[i].item<double>();
      const int idx = maxValue > 0 ? static_cast<int>(std::lround(255 * v / maxValue)) : 0;
      cv::rectangle(canvas, cv::Rect(x0, specH, std::max(1, x1 - x0), stripH), cv::Scalar(lut.at<cv::Vec3b>(0, idx)),
                    cv::FILLED);
      curve.emplace_back((x0 + x1) / 2, specH - 4 - static_cast<int>((specH - 8) * (maxValue > 0 ? v / maxValue : 0)));
    }
    if (curve.size() > 1) cv::polylines(canvas, curve, false, cv::Scalar(40, 200, 255), 2, cv::LINE_AA);
    // Time ticks every 0.1 s (1 s for long clips).
    const double step = clipSeconds > 5 ? 1.0 : 0.1;
    for (double t = 0; t <= clipSeconds + 1e-9; t += step) {
      const int x = static_cast<int>(t / clipSeconds * (W - 1));
      cv::line(canvas, cv::Point(x, specH + stripH - 8), cv::Point(x, specH + stripH - 1), cv::Scalar(0, 0, 0), 1);
    }
    cv::Mat framed(canvas.rows + 24, canvas.cols, CV_8UC3, cv::Scalar(255, 255, 255));
    canvas.copyTo(framed(cv::Rect(0, 0, canvas.cols, canvas.rows)));
    const double offset = meta.value("input", nlohmann::json::object()).value("offset_seconds", 0.0);
    char axis[96];
    std::snprintf(axis, sizeof axis, "time %.2f s .. %.2f s (ticks every %.1f s)", offset, offset + clipSeconds, step);
    cv::putText(framed, axis, cv::Point(6, canvas.rows + 17), cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(20, 20, 20), 1,
                cv::LINE_AA);
    addTitleAndBar(framed, title, lut, maxValue);
    return framed;
  }
  throw InputError("overlay: '" + capturePath + "' is a " + modality +
                   " capture; overlays are drawn for image and audio models (use the GUI's views for text)");
}
}  // namespace
#endif

void renderOverlay(const std::string& capturePath, const at::Tensor& weights, const std::string& title,
                   const std::string& outPath, const OverlayOptions& options) {
#ifndef ATTNSCOPE_HAVE_OPENCV
  throw InputError("this build of AttnScope has no OpenCV: overlays are unavailable (install libopencv-dev and rebuild)");
#else
  writePng(overlayMat(capturePath, weights, title, options), outPath);
#endif
}

namespace {
/// The query row the request asks for, and its title.
std::pair<at::Tensor, std::string> selectRow(const std::string& capture, const OverlayRequest& req) {
  const auto file = CaptureFile::open(capture);  // either kind: probabilities, or queries and keys
  const nlohmann::json& meta = file->metadata();
  const auto stacks = meta.value("stacks", std::vector<std::string>{"self"});
  const std::string stack = req.stack.empty() ? stacks.front() : req.stack;
  if (std::find(stacks.begin(), stacks.end(), stack) == stacks.end())
    throw InputError("stack '" + stack + "' is not in '" + capture + "'");
  at::Tensor row;
  std::string title;
  if (req.rollout) {
    std::vector<at::Tensor> layers;
    const std::vector<int> captured = file->layers(stack);
    for (int l = 0; l < static_cast<int>(captured.size()) && captured[l] == l; ++l)
      layers.push_back(file->probabilities(stack, l));  // [heads, T, T]
    if (layers.empty()) throw InputError("rollout needs layer 0 of '" + stack + "' captured in '" + capture + "'");
    const at::Tensor r = attentionRollout(layers);  // [T, T]
    if (req.query < 0 || req.query >= r.size(0))
      throw InputError("query " + std::to_string(req.query) + " is past the last position");
    row = r[req.query];
    title = "rollout over " + std::to_string(layers.size()) + " layers, query " + std::to_string(req.query);
  } else {
    const auto [tq, tk] = file->shape(stack, req.layer);
    if (req.query < 0 || req.query >= tq)
      throw InputError("query " + std::to_string(req.query) + " is past the last position");
    row = file->block(stack, req.layer, req.head, req.query, 1, 0, tk)[0];  // [k]
    title = stack + " layer " + std::to_string(req.layer) + " head " + std::to_string(req.head) + ", query " +
            std::to_string(req.query);
  }
  const auto labels = meta.value("labels", nlohmann::json::object());
  std::vector<std::string> queries = meta.value("tokens", std::vector<std::string>{});
  if (labels.contains(stack) && labels[stack].contains("query"))
    queries = labels[stack]["query"].get<std::vector<std::string>>();
  if (req.query < static_cast<int>(queries.size())) title += " [" + queries[req.query] + "]";
  return {row, title};
}
}  // namespace

#ifdef ATTNSCOPE_HAVE_OPENCV
namespace {
/// \p weights over the capture's input as an RGB picture.
OverlayPicture overlayPicture(const std::string& capturePath, const at::Tensor& weights, const std::string& title,
                              double alpha, const std::string& colormap) {
  if (!(alpha >= 0 && alpha <= 1)) throw InputError("overlay opacity must be between 0 and 1");
  OverlayOptions o;
  o.alpha = alpha;
  o.colormap = colormap;
  cv::Mat bgr = overlayMat(capturePath, weights, title, o), rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  OverlayPicture pic;
  pic.width = rgb.cols;
  pic.height = rgb.rows;
  pic.title = title;
  pic.rgb.assign(rgb.data, rgb.data + static_cast<size_t>(rgb.total()) * 3);
  return pic;
}
}  // namespace
#endif

OverlayPicture renderCaptureOverlay(const std::string& capturePath, const OverlayRequest& request) {
#ifndef ATTNSCOPE_HAVE_OPENCV
  throw InputError("this build of AttnScope has no OpenCV: overlays are unavailable (install libopencv-dev and rebuild)");
#else
  if (!(request.alpha >= 0 && request.alpha <= 1)) throw InputError("overlay opacity must be between 0 and 1");
  auto [row, title] = selectRow(capturePath, request);
  return overlayPicture(capturePath, row, title, request.alpha, request.colormap);
#endif
}

OverlayPicture renderScoresOverlay(const std::string& capturePath, const std::vector<double>& scores,
                                   const std::string& title, double alpha, const std::string& colormap) {
#ifndef ATTNSCOPE_HAVE_OPENCV
  throw InputError("this build of AttnScope has no OpenCV: overlays are unavailable (install libopencv-dev and rebuild)");
#else
  const at::Tensor weights = at::tensor(scores, at::TensorOptions().dtype(at::kDouble));  // [positions]
  return overlayPicture(capturePath, weights, title, alpha, colormap);
#endif
}

void writeCaptureOverlay(const std::string& capturePath, const OverlayRequest& request, const std::string& pngPath) {
#ifndef ATTNSCOPE_HAVE_OPENCV
  throw InputError("this build of AttnScope has no OpenCV: overlays are unavailable (install libopencv-dev and rebuild)");
#else
  auto [row, title] = selectRow(capturePath, request);
  OverlayOptions o;
  o.alpha = request.alpha;
  o.colormap = request.colormap;
  writePng(overlayMat(capturePath, row, title, o), pngPath);
#endif
}

}  // namespace attnscope
