#pragma once
/// \file AudioFeatures.h
/// Audio front ends computed with LibTorch (no I/O): Whisper's log-mel spectrogram.

#include <ATen/core/Tensor.h>

namespace attnscope {

/// Mel filter bank with Slaney's mel scale and Slaney area normalisation, as librosa's
/// `filters.mel(sr, n_fft, n_mels)` and HF's `mel_filter_bank(norm="slaney", mel_scale="slaney")` compute it.
/// \return [n_mels, n_fft / 2 + 1] float32
at::Tensor melFilterBank(int nMels, int nFft, int sampleRate, double fMin = 0.0, double fMax = -1.0);

/// Whisper's log-mel features (openai-whisper `log_mel_spectrogram`, HF `WhisperFeatureExtractor`): the waveform
/// [samples] (16 kHz, float) is padded with zeros or trimmed to frames·hop samples, STFT with a periodic Hann window,
/// centre reflect padding, the last frame dropped, power spectrum, mel filters, log10(max(x, 1e-10)),
/// max(x, max(x) − 8), (x + 4) / 4.
/// \param filters [n_mels, n_fft / 2 + 1]  \return [n_mels, frames] float32
at::Tensor whisperLogMel(const at::Tensor& wave, const at::Tensor& filters, int nFft, int hop, int64_t frames);

}  // namespace attnscope
