#pragma once
/// \file Media.h
/// Image and audio inputs (decode, preprocess with Hugging Face semantics, label) and attention overlays.
/// Library attnscope_media: OpenCV for images, libsndfile + libsoxr for audio; each optional at build time
/// (the functions then throw InputError saying what to install).

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "attnscope/Engine.h"

namespace attnscope {

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

/// Decodes PNG, JPEG, BMP, WebP, TIFF (8/16-bit, grey, RGB, RGBA, CMYK JPEG) with EXIF orientation applied,
/// converted to 8-bit RGB. Throws InputError naming the file when it cannot be decoded.
RgbImage decodeImage(const std::string& path);

/// HF image-processor settings read from preprocessor_config.json: ViTImageProcessor, DeiTImageProcessor,
/// BitImageProcessor (DINOv2), CLIPImageProcessor and ConvNextImageProcessor, with each class's defaults and size rules.
struct ImagePreprocessing {
  std::string processor = "ViTImageProcessor";
  bool doResize = true;
  int height = 224, width = 224;  ///< fixed size, or
  int shortestEdge = 0;           ///< resize the shorter side to this (long side truncated) when > 0
  double cropPct = 0;             ///< ConvNeXt's crop_pct (0 = not a ConvNeXt processor)
  int resample = 2;               ///< PIL code: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming
  bool doCenterCrop = false;
  int cropHeight = 0, cropWidth = 0;
  bool doRescale = true;
  double rescaleFactor = 1.0 / 255.0;
  bool doNormalize = true;
  std::vector<double> mean = {0.5, 0.5, 0.5}, std = {0.5, 0.5, 0.5};
  /// From \p modelDir/preprocessor_config.json, falling back to the model's image size and ImageNet-style defaults.
  static ImagePreprocessing load(const std::string& modelDir, const ModelInfo& info);
};

/// pixel_values [1, 3, H, W] float32, exactly as the HF processor (slow, PIL) makes them: Pillow-exact resizing
/// (PillowResample.h), HF's center crop (zero padding when the image is smaller), rescale in float64 then float32,
/// normalisation in float32.
at::Tensor preprocessImage(const RgbImage& image, const ImagePreprocessing& p);

/// Decodes + preprocesses \p path for an image model; labels "[CLS]" + "(row,col)" patches.
PreparedInput prepareImage(const LoadedModel& m, const std::string& path);

/// Mono float audio in [-1, 1].
struct AudioClip {
  std::vector<float> samples;
  int sampleRate = 0;
  int channels = 0;              ///< of the file (down-mixed to mono)
  double fileSeconds = 0;        ///< duration of the whole file
  double offsetSeconds = 0;      ///< where the clip starts in the file
};

/// Reads at most \p maxSeconds from \p offsetSeconds (only those frames are read from disk), down-mixes to mono
/// and resamples to \p targetRate with libsoxr (high quality). Throws InputError on unreadable/empty files.
AudioClip decodeAudio(const std::string& path, double offsetSeconds, double maxSeconds, int targetRate);

/// Decodes \p path for an audio model: KWT gets input_values (its window, zero-padded), Whisper input_features
/// (log-mel, from preprocessor_config.json) and decoder_input_ids (the decoder start). Warns when the file is
/// longer than the model's window.
PreparedInput prepareAudio(const LoadedModel& m, const std::string& path, double offsetSeconds = 0.0);

/// Options of renderOverlay().
struct OverlayOptions {
  double alpha = 0.55;            ///< opacity of the attention colours
  std::string colormap = "viridis";
};

/// Renders the attention \p weights over the key positions of one query onto the input: for images a
/// [grid_h, grid_w] map upsampled and alpha-blended on the picture; for audio a spectrogram with the weights as
/// a time-aligned strip and curve. \p capturePath is a capture file written by `run` (it records the input).
/// Writes a PNG atomically (temp file + rename).
void renderOverlay(const std::string& capturePath, const at::Tensor& weights, const std::string& title,
                   const std::string& outPath, const OverlayOptions& options = {});

}  // namespace attnscope
