#pragma once
/// \file TokenAttribution.h
/// One position's attribution over the input positions by any of the token methods — attention rollout, attention
/// flow, ALTI, value zeroing, gradient × attention — as one plain result for the CLI (`attribute`) and the GUI's
/// Attribution tab alike. Plain types only.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace attnscope {

class AttentionVariant;
struct LoadedModel;
struct PreparedInput;

/// How much one position draws on each input position.
struct TokenAttribution {
  std::string method;               ///< "rollout", "flow", "alti", "value-zeroing" or "grad-attn"
  std::string model;                ///< model_type
  std::string stack;                ///< the sequence the scores cover ("self" or "encoder")
  int64_t position = 0;             ///< the scored position (a decoder position for encoder–decoder grad-attn)
  std::string positionStack;        ///< the sequence of the scored position: stack, or "decoder"
  std::string positionToken;        ///< the scored position's label
  int64_t highlight = 0;            ///< the scored position's index in labels; −1 when it is not among them
  std::vector<std::string> labels;  ///< the positions' labels (tokens, patches, frames)
  std::vector<double> scores;       ///< [positions]; sum 1 except for grad-attn (the identity's 1 at position)
  // grad-attn only:
  bool hasTarget = false;
  int64_t targetId = 0;
  std::string target;       ///< the target token or class
  bool predicted = false;   ///< the target is the model's own prediction
  double logit = 0;         ///< the target's logit
  int layers = 0;
  std::string variant = "full";
  /// encoder–decoder grad-attn only: relevance of the decoder's own positions (row position of R_tt) and their labels
  std::vector<double> decoderScores;
  std::vector<std::string> decoderLabels;
};

/// The token methods, in the order they are offered.
std::vector<std::string> tokenAttributionMethods();

/// The attribution of \p position (nullopt = the method's default: the last position of a causal model or of an
/// encoder–decoder model's decoder (grad-attn), else the first; negative counts from the end) by \p method.
/// Encoder–decoder models: grad-attn scores the encoder's positions for the decoder's prediction at \p position;
/// the other methods follow the encoder (\p position is an encoder position). \p target and \p variant apply to grad-attn only (see
/// GradientAttention.h). Throws InputError for an unknown method, a position outside the input, or a model the
/// method does not cover (each method says why).
TokenAttribution tokenAttribution(LoadedModel& m, const PreparedInput& input, const std::string& method,
                                  std::optional<int64_t> position = std::nullopt, const std::string& target = "",
                                  const AttentionVariant* variant = nullptr);

/// The CLI's JSON: {"method", "model", "stack", "position", "position_stack", "token", "scores": [{"position",
/// "token", "value"}]}, plus "target_id", "target", "predicted", "logit", "layers", "variant" for grad-attn and, for
/// an encoder–decoder model, "decoder_scores": [{"position", "token", "value"}].
nlohmann::json toJson(const TokenAttribution& a);

}  // namespace attnscope
