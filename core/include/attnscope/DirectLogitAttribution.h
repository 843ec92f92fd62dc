#pragma once
/// \file DirectLogitAttribution.h
/// Direct logit attribution (as TransformerLens computes it): the logit of a target token at one position
/// split into what the embeddings, every attention head, every MLP block and the biases write to the residual
/// stream, read through the output head with the final norm's scale frozen at the actual residual, so that
/// the parts add up to the logit exactly. For every family whose residual stream is a sum of writes
/// (Model::hasDirectAttribution()); for encoder–decoder models, the decoder's stream, whose layers also write
/// their cross-attention heads' reading of the encoder. Plain types only (no torch header), so the GUI can hold the result.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace attnscope {

class AttentionVariant;
struct LoadedModel;
struct PreparedInput;

/// The parts of one target logit at one position.
struct DirectLogitAttribution {
  std::string model;          ///< model_type
  int64_t position = 0;       ///< the query position whose logit is split
  std::string positionLabel;  ///< its token
  int64_t targetId = 0;
  std::string targetToken;
  double logit = 0;        ///< the model's own logit of the target at the position
  double probability = 0;  ///< softmax of the model's logits there
  bool predicted = false;  ///< the target is the model's own top token there (the default target)
  double embed = 0;        ///< what the embeddings contribute
  /// The stack whose residual stream is split: "self", or "decoder" for encoder–decoder models (whose positions are
  /// the decoder's).
  std::string stack = "self";
  std::vector<std::vector<double>>
      heads;                ///< [layer][head]: each (self-)attention head's contribution (bias excluded)
  /// Encoder–decoder models: [layer][head] each decoder layer's cross-attention heads (bias excluded); empty for
  /// models without an encoder.
  std::vector<std::vector<double>> crossHeads;
  std::vector<double> mlp;  ///< [layer]: each MLP block's contribution
  /// Everything else: the attention (and cross-attention) output projections' biases and what the head adds whatever its input (the
  /// final norm's bias through the unembedding, the unembedding's bias).
  double bias = 0;
  /// The sum of every part; equals logit up to float rounding (the residual stream is recomputed from float32
  /// parts).
  double sum() const;
};

/// Splits the logit of \p target at \p position (−1 = the last) of \p input into its direct contributions.
/// \p target: one token or #ID (see lensTargetId); "" = the token the model predicts there. \p variant
/// (optional, prepared on \p input) is applied at every attention call (a pruned head then contributes 0).
/// Throws InputError when the model's residual stream is not a sum of writes (post-norm models, models
/// without a token output head) or the position is outside the input (the decoder's, for encoder–decoder models).
DirectLogitAttribution directLogitAttribution(LoadedModel& m, const PreparedInput& input,
                                              int64_t position = -1, const std::string& target = "",
                                              const AttentionVariant* variant = nullptr);

/// The CLI's DLA JSON: {"method": "dla", "model", "stack", "position", "token", "target_id", "target", "logit",
/// "p", "layers", "heads", "cross_heads", "parts": {"embed": z, "L0H0": x, …, "L0.cross.H0": c, …, "L0.mlp": y,
/// …, "bias": b}, "sum"}; Σ parts = logit. The cross-attention parts (and a non-zero cross_heads) only for
/// encoder–decoder models.
nlohmann::json toJson(const DirectLogitAttribution& dla);

}  // namespace attnscope
