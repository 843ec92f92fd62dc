#pragma once
/// \file OverlayRenderer.h
/// Plain-types entry point to the overlays (no LibTorch or OpenCV types), for the CLI and the Qt GUI alike.

#include <cstdint>
#include <string>
#include <vector>

namespace attnscope {

/// Which attention to draw: one head of one layer, or attention rollout over all captured layers of a stack.
struct OverlayRequest {
  std::string stack;       ///< "" = the capture's first stack
  int layer = 0;
  int head = 0;
  int query = 0;           ///< query position (0 = the class token of image/audio classifiers)
  bool rollout = false;
  double alpha = 0.55;     ///< opacity of the attention colours
  std::string colormap = "viridis";
};

/// An 8-bit RGB picture, row-major.
struct OverlayPicture {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  std::string title;
};

/// Renders the overlay of \p request from a capture file written by `run` (image: attention over the picture;
/// audio: over the spectrogram, time-aligned). Throws InputError naming what is missing.
OverlayPicture renderCaptureOverlay(const std::string& capturePath, const OverlayRequest& request);

/// Renders \p scores — one per position of the capture's first stack ([prefix tokens] + patches or frames), e.g. a
/// token attribution — over the input recorded in the capture file, titled \p title. Throws InputError naming what
/// is missing.
OverlayPicture renderScoresOverlay(const std::string& capturePath, const std::vector<double>& scores,
                                   const std::string& title, double alpha = 0.55,
                                   const std::string& colormap = "viridis");

/// Same as renderCaptureOverlay, written as a PNG (atomically: temp file + rename).
void writeCaptureOverlay(const std::string& capturePath, const OverlayRequest& request, const std::string& pngPath);

}  // namespace attnscope
