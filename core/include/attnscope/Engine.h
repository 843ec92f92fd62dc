#pragma once
/// \file Engine.h
/// The engine's top level: load a model folder, turn user input into model
/// inputs, run with attention capture, generate greedily, save captures.
/// Used by the CLI directly and by the GUI through EngineSession (Qt-safe).

#include <ATen/core/Tensor.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attnscope/AttentionCapture.h"
#include "attnscope/Model.h"
#include "attnscope/ModelConfig.h"
#include "attnscope/Tokenizer.h"
#include "attnscope/Variant.h"

namespace attnscope {

/// A model folder loaded on a device.
struct LoadedModel {
  std::string dir;
  ModelConfig config;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  ///< nullptr when the folder has none or its files are damaged
  /// Why the tokenizer files could not be used ("" when fine or absent): the model still runs on exact inputs, and
  /// text input reports this error.
  std::string tokenizerError;
  c10::Device device = c10::Device(c10::kCPU);
};

/// Loads \p dir (config.json, weights, tokenizer) on \p deviceSpec ("auto", "cpu", "cuda:N") computing in
/// \p dtypeSpec: "auto" (float32 on the CPU, where bf16→f32 is exact; the stored 16-bit dtype on CUDA), "float32",
/// "bfloat16" or "float16". Throws ModelLoadError / ConfigError / SafetensorsError / DeviceError, and InputError
/// for an unknown dtype.
std::shared_ptr<LoadedModel> loadModel(const std::string& dir, const std::string& deviceSpec = "auto",
                                       const std::string& dtypeSpec = "auto");

/// Model inputs plus the labels of their positions and a JSON description for metadata.
struct PreparedInput {
  TensorMap tensors;                ///< HF names, [1, T]
  std::vector<std::string> labels;  ///< one display label per position (the decoder's for encoder–decoder models)
  /// Encoder–decoder models: labels of the "encoder" (frame times) and "decoder" (tokens) sequences.
  std::map<std::string, std::vector<std::string>> sequenceLabels;
  nlohmann::json description;       ///< {"text": ...}, {"image": ...}, {"audio": ...} or {"inputs_file": ...}
};

/// Fills labels / sequenceLabels of \p in from its tensors and the model: tokens for text, "[CLS]" + "(row,col)"
/// patches for images, prefix tokens + frame start times ("0.51s") for audio.
void labelPositions(const LoadedModel& m, PreparedInput& in);

/// The query and key labels of a captured stack ("self", "encoder", "decoder", "cross").
std::pair<std::vector<std::string>, std::vector<std::string>> stackLabels(const PreparedInput& in,
                                                                          const std::string& stack);

/// Tokenizes \p text (and \p pair) with the model's tokenizer and special tokens.
/// Text longer than the model's positions is truncated with a warning.
/// Throws InputError on invalid UTF-8, missing tokenizer, or text that yields no tokens.
PreparedInput prepareText(const LoadedModel& m, const std::string& text, const std::optional<std::string>& pair = {});

/// Encoder–decoder text models (T5, BART): \p source is encoded for the encoder; the decoder is teacher-forced with
/// \p target as HF shifts labels (decoder start token + the target's tokens, special tokens included, the last one
/// dropped), or gets the decoder start token alone when there is no target (what generate() continues from).
/// Throws InputError when the model is not an encoder–decoder text model or has no tokenizer.
PreparedInput prepareSeq2Seq(const LoadedModel& m, const std::string& source, const std::optional<std::string>& target);

/// Reads exact model inputs by their HF names from a safetensors file (e.g. input_ids [1,T] I64).
/// Throws InputError naming unknown or missing tensors.
PreparedInput prepareInputsFile(const LoadedModel& m, const std::string& path);

/// Outputs of one forward pass with its capture.
struct RunResult {
  TensorMap outputs;                          ///< last_hidden_state [T, H], logits, pooler_output (CPU, float32)
  std::shared_ptr<AttentionCapture> capture;  ///< [heads, q, k] per (stack, layer)
  double seconds = 0;                         ///< forward wall time
  nlohmann::json prediction;                  ///< top class / next tokens / masked-token fills
  std::string variant;                        ///< spec of the attention variant ("" = none)
  bool lastLogitsOnly = false;                ///< logits holds the last position only ([1, vocab])
};

/// One forward pass with capture of the selected layers/heads. \p control may cancel (CancelledError).
/// \p lastLogitsOnly: language models compute the last position's logits only (long inputs).
RunResult runModel(LoadedModel& m, const PreparedInput& input, const CaptureSelection& selection = {},
                   RunControl* control = nullptr, const AttentionVariant* variant = nullptr,
                   bool lastLogitsOnly = false);

/// Result of greedy decoding.
/// The model's prediction from its outputs: top class, next tokens, or masked-token fills.
nlohmann::json predict(const LoadedModel& m, const PreparedInput& input, const TensorMap& outputs);

struct GenerateResult {
  std::vector<int64_t> ids;          ///< prompt + generated ids
  int64_t promptLength = 0;
  std::string continuation;          ///< decoded generated part
  std::string text;                  ///< decoded prompt + continuation
  std::vector<std::string> labels;   ///< one label per position of ids
  std::shared_ptr<AttentionCapture> capture;  ///< rows = every position, including each generated step
  double seconds = 0;
  std::string variant;               ///< spec of the attention variant ("" = none)
  /// With a variant: per generated step, KL(full ‖ variant) in nats between the full model's and the variant's
  /// next-token distributions on the same prefix (the full model follows the variant's tokens with its own cache).
  std::vector<double> stepKl;
  std::vector<int64_t> fullTop1;     ///< per generated step: the full model's top token on that prefix
};

/// Greedy decoding of up to \p maxNewTokens with a key/value cache, stopping at EOS. With a \p variant (not
/// `full`) the full model runs beside it on the same tokens, for the per-step KL (GenerateResult::stepKl).
/// Throws InputError when the model cannot generate.
GenerateResult generate(LoadedModel& m, const PreparedInput& prompt, int maxNewTokens,
                        const CaptureSelection& selection = {}, RunControl* control = nullptr,
                        const AttentionVariant* variant = nullptr);

/// Which logits a capture file keeps.
enum class LogitsMode { All, Last, None };

/// Writes a capture file: attentions.<l> (or <stack>_attentions.<l>) [heads, q, k] float32 — or, for a
/// CaptureKind::QueryKey run, queries.<l> [heads, q, d], keys.<l> [kv_heads, k, d], lse.<l> [heads, q] (and
/// bias_diagonals.<l> / key_padding_mask.<l> where the layer has them) — plus last_hidden_state, logits, the
/// model inputs, and "__metadata__" {"attnscope": JSON} ("store": "probs" or "qk"; "qk_layers" with each layer's
/// scale, causal flag, sliding window, query offset and head count).
void saveCapture(const std::string& path, const LoadedModel& m, const PreparedInput& input, const RunResult& run,
                 LogitsMode logits = LogitsMode::All);

/// The per-step KL of a generation beside the full model (GenerateResult::stepKl) as JSON: [{"step" (1 = the first
/// generated token), "token" (the variant's choice), "kl" (nats), "full_top1" (the full model's top token on the same
/// prefix), "agree"}]; saveGeneration() stores it as the metadata's "variant_kl".
nlohmann::json stepKlJson(const LoadedModel& m, const GenerateResult& gen);

/// Writes the capture of a generation (attentions of every step, generated_ids).
void saveGeneration(const std::string& path, const LoadedModel& m, const PreparedInput& prompt,
                    const GenerateResult& gen);

}  // namespace attnscope
