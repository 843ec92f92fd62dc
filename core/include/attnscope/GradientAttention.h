#pragma once
/// \file GradientAttention.h
/// Gradient-weighted attention relevancy (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability for
/// Interpreting Bi-Modal and Encoder-Decoder Transformers", the self-attention rule): with A_l a layer's attention
/// probabilities [heads, T, T] and ∇A_l the gradient of the target logit with respect to them (LibTorch autograd
/// through the whole forward, so later layers' attention, which depends on A_l through the residual stream, is part
/// of it), R starts as the identity and every layer of the self-attention stack, first layer first, adds
/// Ā_l · R with Ā_l = mean over heads of (∇A_l ⊙ A_l)⁺. Row p of R says how relevant each input position is to the
/// target at p. Works for text, image and audio models alike (their self-attention stack). Plain types only.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace attnscope {

class AttentionVariant;
struct LoadedModel;
struct PreparedInput;

/// The relevancy row of one position for one target.
struct GradientAttention {
  std::string model;         ///< model_type
  int64_t position = 0;      ///< the row of R (the position whose output is explained)
  int64_t targetId = 0;      ///< token id, or class index for classifiers
  std::string targetLabel;   ///< the token, or the class name
  bool predicted = false;    ///< the target is what the model itself predicts (the default)
  double logit = 0;          ///< the model's logit of the target (what is differentiated)
  int layers = 0;            ///< self-attention layers folded into R
  std::vector<double> scores;  ///< [T]: row position of R (includes the identity's 1 at the position itself)
};

/// Chefer et al.'s relevancy for \p target at \p position of \p input. \p position: −1 = the last for causal
/// models, else the first (the class token of classifiers). \p target: language models: one token or #ID (see
/// lensTargetId); classifiers: a label name or #INDEX; "" = the model's own prediction. For classifiers the
/// logit is the sequence's class logit and \p position only chooses the row of R. \p variant (optional, prepared on
/// \p input) must use the dense attention path (a variant with its own algorithm has no probabilities to
/// differentiate). Throws InputError for models without a self-attention stack or an objective (no output head),
/// a position or target outside the model, inputs over 1,024 positions, or such a variant.
GradientAttention gradientAttention(LoadedModel& m, const PreparedInput& input, int64_t position = -1,
                                    const std::string& target = "", const AttentionVariant* variant = nullptr);

}  // namespace attnscope
