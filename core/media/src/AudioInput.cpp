#include <ATen/ops/from_blob.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/AudioFeatures.h"
#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"
#include "attnscope/Media.h"

#ifdef ATTNSCOPE_HAVE_AUDIO
#include <sndfile.h>
#include <soxr.h>
#endif

namespace attnscope {

AudioClip decodeAudio(const std::string& path, double offsetSeconds, double maxSeconds, int targetRate) {
#ifndef ATTNSCOPE_HAVE_AUDIO
  throw InputError("this build of AttnScope has no libsndfile/libsoxr: audio input is unavailable (install "
                   "libsndfile1-dev and libsoxr-dev and rebuild)");
#else
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError("audio '" + path + "' does not exist or is not a file");
  if (offsetSeconds < 0) throw InputError("the audio offset must be non-negative (got " + std::to_string(offsetSeconds) + ")");
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f)
    throw InputError("audio '" + path + "' cannot be read: " + sf_strerror(nullptr) +
                     " (supported: WAV, FLAC, OGG/Vorbis, MP3 and the other formats of libsndfile)");
  struct Closer {
    SNDFILE* f;
    ~Closer() { sf_close(f); }
  } closer{f};
  if (info.frames <= 0 || info.samplerate <= 0 || info.channels <= 0)
    throw InputError("audio '" + path + "' holds no samples");
  if (info.samplerate > 768000 || info.channels > 1024)
    throw InputError("audio '" + path + "': " + std::to_string(info.samplerate) + " Hz and " +
                     std::to_string(info.channels) + " channels are outside what audio files hold (at most 768 kHz, "
                     "1024 channels)");
  AudioClip clip;
  clip.channels = info.channels;
  clip.fileSeconds = static_cast<double>(info.frames) / info.samplerate;
  clip.offsetSeconds = offsetSeconds;
  const sf_count_t start = static_cast<sf_count_t>(std::llround(offsetSeconds * info.samplerate));
  if (start >= info.frames) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "the offset %.3f s is past the end of '%s' (%.3f s long)", offsetSeconds,
                  path.c_str(), clip.fileSeconds);
    throw InputError(buf);
  }
  const sf_count_t want = maxSeconds > 0 ? std::min<sf_count_t>(info.frames - start,
                                                                  static_cast<sf_count_t>(std::ceil(maxSeconds * info.samplerate)))
                                         : info.frames - start;
  if (start > 0 && sf_seek(f, start, SEEK_SET) < 0) throw InputError("audio '" + path + "': cannot seek to the offset");
  std::vector<float> interleaved(static_cast<size_t>(want) * info.channels);
  const sf_count_t got = sf_readf_float(f, interleaved.data(), want);
  if (got <= 0) throw InputError("audio '" + path + "': no samples could be decoded");
  std::vector<float> mono(static_cast<size_t>(got));
  for (sf_count_t i = 0; i < got; ++i) {
    double s = 0;
    for (int c = 0; c < info.channels; ++c) s += interleaved[static_cast<size_t>(i) * info.channels + c];
    mono[static_cast<size_t>(i)] = static_cast<float>(s / info.channels);
  }
  if (info.samplerate == targetRate) {
    clip.samples = std::move(mono);
  } else {
    const size_t outLen = static_cast<size_t>(std::llround(static_cast<double>(got) * targetRate / info.samplerate));
    // libsoxr dereferences its output even when it has no room for a sample: a clip shorter than one output sample
    // is refused here.
    if (outLen == 0)
      throw InputError("audio '" + path + "': " + std::to_string(got) + " samples at " +
                       std::to_string(info.samplerate) + " Hz are shorter than one sample at " +
                       std::to_string(targetRate) + " Hz");
    clip.samples.resize(outLen);
    size_t done = 0;
    const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_error_t err = soxr_oneshot(info.samplerate, targetRate, 1, mono.data(), mono.size(), nullptr,
                                          clip.samples.data(), outLen, &done, &io, &q, nullptr);
    if (err) throw InputError("audio '" + path + "': resampling failed: " + std::string(err));
    clip.samples.resize(done);
  }
  clip.sampleRate = targetRate;
  return clip;
#endif
}

PreparedInput prepareAudio(const LoadedModel& m, const std::string& path, double offsetSeconds) {
  const ModelInfo& info = m.model->info();
  if (info.modality != "audio")
    throw InputError("audio input: model '" + m.dir + "' (" + info.architecture + ") takes " + info.modality +
                     " input, not audio");
  int rate = info.sampleRate > 0 ? info.sampleRate : 16000;
  double window = info.windowSeconds;
  nlohmann::json pre = nlohmann::json::object();
  const std::string prePath = (std::filesystem::path(m.dir) / "preprocessor_config.json").string();
  if (info.audioInput == "input_features") {
    std::ifstream f(prePath);
    if (f) {
      try {
        f >> pre;
      } catch (const std::exception& e) {
        throw ModelLoadError("'" + prePath + "' is not valid JSON: " + e.what());
      }
    }
    rate = pre.value("sampling_rate", rate);
    if (pre.contains("n_samples")) window = pre["n_samples"].get<double>() / rate;
  }
  AudioClip clip = decodeAudio(path, offsetSeconds, window, rate);
  const double available = clip.fileSeconds - offsetSeconds;
  char note[256];
  if (available > window + 1e-9) {
    std::snprintf(note, sizeof note,
                  "'%s' is %.2f s long; the model hears %.2f s at a time: using %.2f-%.2f s (choose with --offset)",
                  path.c_str(), clip.fileSeconds, window, offsetSeconds, offsetSeconds + window);
    warn(note);
  }
  PreparedInput in;
  const int64_t n = static_cast<int64_t>(clip.samples.size());
  at::Tensor wave = at::from_blob(clip.samples.data(), {n}, at::TensorOptions().dtype(at::kFloat)).clone();  // [n]
  if (info.audioInput == "input_values" && info.anyAudioLength) {
    // wav2vec2: the clip as it is (not padded), normalised per utterance as Wav2Vec2FeatureExtractor does.
    if (pre.value("do_normalize", true) && n > 0) {
      double mean = 0, var = 0;
      for (float s : clip.samples) mean += s;
      mean /= static_cast<double>(n);
      for (float s : clip.samples) var += (s - mean) * (s - mean);
      var /= static_cast<double>(n);
      const double scale = 1.0 / std::sqrt(var + 1e-7);
      float* w = wave.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) w[i] = static_cast<float>((clip.samples[static_cast<size_t>(i)] - mean) * scale);
    }
    in.tensors["input_values"] = wave.unsqueeze(0);  // [1, n]
  } else if (info.audioInput == "input_values") {
    const int64_t need = static_cast<int64_t>(std::llround(window * rate));
    at::Tensor full = at::zeros({need}, wave.options());  // [need]
    full.narrow(0, 0, std::min(need, n)).copy_(wave.narrow(0, 0, std::min(need, n)));
    in.tensors["input_values"] = full.unsqueeze(0);  // [1, need]
  } else {
    const int nFft = pre.value("n_fft", 400), hop = pre.value("hop_length", 160);
    const int mels = pre.value("feature_size", 80);
    const int64_t frames = pre.value("nb_max_frames", static_cast<int64_t>(std::llround(window * rate / hop)));
    at::Tensor filters;
    if (pre.contains("mel_filters")) {
      const auto rows = pre["mel_filters"].get<std::vector<std::vector<float>>>();  // [bins][mels] in HF's layout
      filters = at::zeros({mels, static_cast<int64_t>(rows.size())});
      for (size_t b = 0; b < rows.size(); ++b)
        for (int k = 0; k < mels && k < static_cast<int>(rows[b].size()); ++k) filters[k][b] = rows[b][k];
    } else {
      filters = melFilterBank(mels, nFft, rate);  // [mels, bins]
    }
    in.tensors["input_features"] = whisperLogMel(wave, filters, nFft, hop, frames).unsqueeze(0);  // [1, mels, frames]
    const int64_t start = m.config.optInt("decoder_start_token_id", 50258);
    in.tensors["decoder_input_ids"] = at::full({1, 1}, start, at::TensorOptions().dtype(at::kLong));  // [1, 1]
  }
  in.description = {{"audio", std::filesystem::absolute(path).string()},
                    {"offset_seconds", offsetSeconds},
                    {"seconds", std::min(available, window)},
                    {"file_seconds", clip.fileSeconds},
                    {"file_channels", clip.channels}};
  labelPositions(m, in);
  return in;
}

AudioPreview audioPreview(const std::string& path, double offsetSeconds, double seconds, int width, int height) {
  if (width < 8 || height < 12) throw InputError("audio preview: the picture is too small");
  const AudioClip clip = decodeAudio(path, offsetSeconds, seconds, 16000);
  AudioPreview out;
  out.width = width;
  out.height = height;
  out.fileSeconds = clip.fileSeconds;
  out.rgb.assign(static_cast<size_t>(width) * height * 3, 255);
  auto put = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    uint8_t* p = &out.rgb[(static_cast<size_t>(y) * width + x) * 3];
    p[0] = r;
    p[1] = g;
    p[2] = b;
  };
  const int waveH = height / 3, specH = height - waveH;
  const size_t n = clip.samples.size();
  // Waveform: the min..max of the samples under each column, centred.
  for (int x = 0; x < width && n > 0; ++x) {
    const size_t a = n * x / width, b = std::max(a + 1, n * (x + 1) / width);
    float lo = 0, hi = 0;
    for (size_t i = a; i < b && i < n; ++i) {
      lo = std::min(lo, clip.samples[i]);
      hi = std::max(hi, clip.samples[i]);
    }
    const int y0 = std::clamp(static_cast<int>((0.5f - 0.5f * hi) * (waveH - 1)), 0, waveH - 1);
    const int y1 = std::clamp(static_cast<int>((0.5f - 0.5f * lo) * (waveH - 1)), 0, waveH - 1);
    for (int y = y0; y <= y1; ++y) put(x, y, 59, 82, 139);
  }
  // Log-mel spectrogram (Whisper's front end, 100 frames per second), low frequencies at the bottom.
  const int64_t frames = std::max<int64_t>(1, static_cast<int64_t>(n / 160));
  const at::Tensor wave = at::from_blob(const_cast<float*>(clip.samples.data()), {static_cast<int64_t>(n)},
                                        at::kFloat);                                   // [samples]
  const at::Tensor mel = whisperLogMel(wave, melFilterBank(80, 400, 16000), 400, 160, frames).contiguous();  // [80, frames]
  const float* m = mel.data_ptr<float>();
  float lo = m[0], hi = m[0];
  for (int64_t i = 0; i < mel.numel(); ++i) {
    lo = std::min(lo, m[i]);
    hi = std::max(hi, m[i]);
  }
  const float span = hi > lo ? hi - lo : 1.0f;
  for (int y = 0; y < specH; ++y) {
    const int band = std::clamp(79 - y * 80 / specH, 0, 79);
    for (int x = 0; x < width; ++x) {
      const int64_t f = std::min<int64_t>(frames - 1, static_cast<int64_t>(x) * frames / width);
      const float t = (m[band * frames + f] - lo) / span;  // 0..1
      const auto v = static_cast<uint8_t>(std::clamp(255.0f * t, 0.0f, 255.0f));
      put(x, waveH + y, static_cast<uint8_t>(v), static_cast<uint8_t>(v * 0.55f), static_cast<uint8_t>(80 + v * 0.3f));
    }
  }
  return out;
}

}  // namespace attnscope
