#include "attnscope/PillowResample.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "attnscope/Errors.h"

namespace attnscope {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

double boxFilter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
double bilinearFilter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double hammingFilter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= M_PI;
  return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
}
double bicubicFilter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}
double lanczosFilter(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filterFor(PillowFilter f) {
  switch (f) {
    case PillowFilter::Box: return {boxFilter, 0.5};
    case PillowFilter::Bilinear: return {bilinearFilter, 1.0};
    case PillowFilter::Hamming: return {hammingFilter, 1.0};
    case PillowFilter::Bicubic: return {bicubicFilter, 2.0};
    case PillowFilter::Lanczos: return {lanczosFilter, 3.0};
    default: throw InputError("internal: no convolution filter for nearest");
  }
}

/// Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis: per output index, the first input index, the tap
/// count and ksize fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out, ksize]
};

Coeffs precompute(int inSize, int outSize, const Filter& filter) {
  const double scale = static_cast<double>(inSize) / outSize;
  const double filterScale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterScale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(outSize);
  c.count.resize(outSize);
  c.weights.assign(static_cast<size_t>(outSize) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < outSize; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterScale;
    int xmin = static_cast<int>(center - support + 0.5);  // C truncation, as Pillow
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < c.ksize; ++x) {
      double w = x < xmax ? k[x] : 0.0;
      if (x < xmax && ww != 0.0) w /= ww;
      // 22-bit fixed point, rounded half away from zero.
      c.weights[static_cast<size_t>(xx) * c.ksize + x] =
          static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int64_t v) {
  if (v >= (int64_t(1) << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

}  // namespace

PillowFilter pillowFilter(int code) {
  if (code < 0 || code > 5)
    throw InputError("resample " + std::to_string(code) +
                     " is not a Pillow filter (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)");
  return static_cast<PillowFilter>(code);
}

std::vector<uint8_t> pillowResize(const std::vector<uint8_t>& in, int width, int height, int channels, int outWidth,
                                  int outHeight, PillowFilter filter) {
  if (width < 1 || height < 1 || outWidth < 1 || outHeight < 1 || channels < 1)
    throw InputError("cannot resize a " + std::to_string(width) + "x" + std::to_string(height) + " image to " +
                     std::to_string(outWidth) + "x" + std::to_string(outHeight));
  if (in.size() != static_cast<size_t>(width) * height * channels)
    throw InputError("internal: image buffer does not match its size");
  const size_t C = static_cast<size_t>(channels);
  if (outWidth == width && outHeight == height) return in;
  if (filter == PillowFilter::Nearest) {
    // Pillow's ImagingScaleAffine: the source coordinate starts at scale / 2 and accumulates +scale in double,
    // truncated to an index.
    std::vector<uint8_t> out(static_cast<size_t>(outWidth) * outHeight * C);
    const double sx = static_cast<double>(width) / outWidth, sy = static_cast<double>(height) / outHeight;
    std::vector<int> xs(outWidth), ys(outHeight);
    double at = sx * 0.5;
    for (int x = 0; x < outWidth; ++x, at += sx) xs[x] = std::min(width - 1, static_cast<int>(at));
    at = sy * 0.5;
    for (int y = 0; y < outHeight; ++y, at += sy) ys[y] = std::min(height - 1, static_cast<int>(at));
    for (int y = 0; y < outHeight; ++y) {
      const int yi = ys[y];
      for (int x = 0; x < outWidth; ++x) {
        const int xi = xs[x];
        for (size_t c = 0; c < C; ++c)
          out[(static_cast<size_t>(y) * outWidth + x) * C + c] = in[(static_cast<size_t>(yi) * width + xi) * C + c];
      }
    }
    return out;
  }
  const Filter f = filterFor(filter);
  const bool horizontal = outWidth != width, vertical = outHeight != height;
  const Coeffs cv = precompute(height, outHeight, f);
  // The horizontal pass covers only the rows the vertical pass reads.
  const int firstRow = cv.first[0];
  const int lastRow = cv.first[outHeight - 1] + cv.count[outHeight - 1];
  std::vector<uint8_t> tmp;
  const std::vector<uint8_t>* src = &in;
  int srcWidth = width, rowOffset = 0;
  if (horizontal) {
    const Coeffs ch = precompute(width, outWidth, f);
    const int rows = vertical ? lastRow - firstRow : height;
    const int start = vertical ? firstRow : 0;
    tmp.resize(static_cast<size_t>(outWidth) * rows * C);
    for (int y = 0; y < rows; ++y) {
      const uint8_t* row = in.data() + static_cast<size_t>(y + start) * width * C;
      for (int xx = 0; xx < outWidth; ++xx) {
        const int32_t* k = ch.weights.data() + static_cast<size_t>(xx) * ch.ksize;
        for (size_t c = 0; c < C; ++c) {
          int64_t ss = int64_t(1) << (kPrecisionBits - 1);
          for (int x = 0; x < ch.count[xx]; ++x) ss += static_cast<int64_t>(row[(ch.first[xx] + x) * C + c]) * k[x];
          tmp[(static_cast<size_t>(y) * outWidth + xx) * C + c] = clip8(ss);
        }
      }
    }
    src = &tmp;
    srcWidth = outWidth;
    rowOffset = start;
  }
  if (!vertical) return tmp;
  std::vector<uint8_t> out(static_cast<size_t>(srcWidth) * outHeight * C);
  for (int yy = 0; yy < outHeight; ++yy) {
    const int32_t* k = cv.weights.data() + static_cast<size_t>(yy) * cv.ksize;
    const int y0 = cv.first[yy] - rowOffset;
    for (int x = 0; x < srcWidth; ++x)
      for (size_t c = 0; c < C; ++c) {
        int64_t ss = int64_t(1) << (kPrecisionBits - 1);
        for (int y = 0; y < cv.count[yy]; ++y)
          ss += static_cast<int64_t>((*src)[(static_cast<size_t>(y0 + y) * srcWidth + x) * C + c]) * k[y];
        out[(static_cast<size_t>(yy) * srcWidth + x) * C + c] = clip8(ss);
      }
  }
  return out;
}

}  // namespace attnscope
