#pragma once
/// \file PillowResample.h
/// Image resizing exactly as Pillow's Image.resize does it (and therefore as Hugging Face's image processors do):
/// separable convolution with the filter's support widened by the scale on downscale (antialiasing), taps
/// `center ± support` with `center = (i + 0.5)·in/out`, weights normalised and converted to 22-bit fixed point
/// (rounded half away from zero), the horizontal pass first (only over the rows the vertical pass reads), and
/// rounding with clipping to 8 bits after each pass. Nearest is Pillow's affine nearest. Plain C++, no OpenCV.

#include <cstdint>
#include <vector>

namespace attnscope {

/// Pillow's resampling filters, by their PIL codes.
enum class PillowFilter { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

/// Resizes \p pixels (\p width x \p height, \p channels bytes per pixel, row-major) to \p outWidth x \p outHeight.
/// Throws InputError for empty sizes or an unknown filter.
std::vector<uint8_t> pillowResize(const std::vector<uint8_t>& pixels, int width, int height, int channels,
                                  int outWidth, int outHeight, PillowFilter filter);

/// PillowFilter from a preprocessor_config.json `resample` code (0–5); throws InputError for others.
PillowFilter pillowFilter(int code);

}  // namespace attnscope
