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
  std::string stack;                ///< the self-attention stack followed ("self" or "encoder")
  int64_t position = 0;             ///< the scored position
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
  const std::string& token() const { return labels.at(static_cast<size_t>(position)); }
};

/// The token methods, in the order they are offered.
std::vector<std::string> tokenAttributionMethods();

/// The attribution of \p position (nullopt = the method's default: the last position of a causal model, else the
/// first; negative counts from the end) by \p method. \p target and \p variant apply to grad-attn only (see
/// GradientAttention.h). Throws InputError for an unknown method, a position outside the input, or a model the
/// method does not cover (each method says why).
TokenAttribution tokenAttribution(LoadedModel& m, const PreparedInput& input, const std::string& method,
                                  std::optional<int64_t> position = std::nullopt, const std::string& target = "",
                                  const AttentionVariant* variant = nullptr);

/// The CLI's JSON: {"method", "model", "stack", "position", "token", "scores": [{"position", "token", "value"}]}, plus
/// "target_id", "target", "predicted", "logit", "layers", "variant" for grad-attn.
nlohmann::json toJson(const TokenAttribution& a);

}  // namespace attnscope
