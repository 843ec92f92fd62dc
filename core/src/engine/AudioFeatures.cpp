#include "attnscope/AudioFeatures.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/hann_window.h>
#include <ATen/ops/log10.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/stft.h>
#include <ATen/ops/zeros.h>

#include <cmath>
#include <vector>

#include "attnscope/Errors.h"

namespace attnscope {

namespace {
double hzToMel(double f) {
  const double fsp = 200.0 / 3.0, minLogHz = 1000.0, minLogMel = minLogHz / fsp, logstep = std::log(6.4) / 27.0;
  return f >= minLogHz ? minLogMel + std::log(f / minLogHz) / logstep : f / fsp;
}
double melToHz(double m) {
  const double fsp = 200.0 / 3.0, minLogHz = 1000.0, minLogMel = minLogHz / fsp, logstep = std::log(6.4) / 27.0;
  return m >= minLogMel ? minLogHz * std::exp(logstep * (m - minLogMel)) : fsp * m;
}
}  // namespace

at::Tensor melFilterBank(int nMels, int nFft, int sampleRate, double fMin, double fMax) {
  if (fMax < 0) fMax = sampleRate / 2.0;
  const int bins = nFft / 2 + 1;
  std::vector<double> hz(nMels + 2);
  const double m0 = hzToMel(fMin), m1 = hzToMel(fMax);
  for (int i = 0; i < nMels + 2; ++i) hz[i] = melToHz(m0 + (m1 - m0) * i / (nMels + 1));
  at::Tensor w = at::zeros({nMels, bins}, at::TensorOptions().dtype(at::kDouble));  // [n_mels, bins]
  auto acc = w.accessor<double, 2>();
  for (int i = 0; i < nMels; ++i) {
    const double enorm = 2.0 / (hz[i + 2] - hz[i]);
    for (int b = 0; b < bins; ++b) {
      const double f = static_cast<double>(b) * sampleRate / nFft;
      const double lower = (f - hz[i]) / (hz[i + 1] - hz[i]), upper = (hz[i + 2] - f) / (hz[i + 2] - hz[i + 1]);
      acc[i][b] = std::max(0.0, std::min(lower, upper)) * enorm;
    }
  }
  return w.to(at::kFloat);
}

at::Tensor whisperLogMel(const at::Tensor& waveIn, const at::Tensor& filters, int nFft, int hop, int64_t frames) {
  if (waveIn.dim() != 1) throw InputError("whisperLogMel: the waveform must be 1-D [samples]");
  const int64_t samples = frames * hop;
  at::Tensor wave = waveIn.to(at::kFloat);  // [samples]
  if (wave.size(0) > samples) wave = wave.narrow(0, 0, samples);
  if (wave.size(0) < samples) wave = at::cat({wave, at::zeros({samples - wave.size(0)}, wave.options())});  // [samples]
  const at::Tensor window = at::hann_window(nFft, /*periodic=*/true, wave.options());  // [n_fft]
  const at::Tensor spec = at::stft(wave, nFft, hop, nFft, window, /*center=*/true, "reflect", /*normalized=*/false,
                                   /*onesided=*/true, /*return_complex=*/true);  // [bins, frames + 1]
  const at::Tensor power = spec.narrow(1, 0, spec.size(1) - 1).abs().pow(2);    // [bins, frames]
  at::Tensor logSpec = at::log10(at::matmul(filters.to(wave.device()), power).clamp_min(1e-10));  // [mels, frames]
  logSpec = at::maximum(logSpec, logSpec.max() - 8.0);
  return (logSpec + 4.0) / 4.0;  // [mels, frames]
}

}  // namespace attnscope
