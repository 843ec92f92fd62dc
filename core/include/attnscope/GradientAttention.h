#pragma once
/// \file GradientAttention.h
/// Gradient-weighted attention relevancy (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability for
/// Interpreting Bi-Modal and Encoder-Decoder Transformers", the self-attention rule): with A_l a layer's attention
/// probabilities [heads, T, T] and ∇A_l the gradient of the target logit with respect to them (LibTorch autograd
/// through the whole forward, so later layers' attention, which depends on A_l through the residual stream, is part
/// of it), R starts as the identity and every layer of the self-attention stack, first layer first, adds
/// Ā_l · R with Ā_l = mean over heads of (∇A_l ⊙ A_l)⁺. Row p of R says how relevant each input position is to the
/// target at p. Works for text, image and audio models alike (their self-attention stack).
/// Encoder–decoder models (T5, BART, Whisper) follow the paper's encoder–decoder rules: R_ss = I over the encoder
/// and R_tt = I over the decoder, R_ts = 0; each encoder layer adds Ā·R_ss to R_ss; each decoder layer's
/// self-attention adds Ā·R_tt to R_tt and Ā·R_ts to R_ts, then its cross-attention adds R̄_ttᵀ · Ā · R̄_ss to R_ts,
/// where R̄ = I + (R − I) with every row of R − I normalised to sum 1 (a row with nothing in it — a decoder position
/// the target does not read — stays 0). Row t of R_ts scores the encoder's positions (source tokens or audio
/// frames) for the decoder's prediction at t; row t of R_tt its own decoder positions. Plain types only.

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
  std::string stack = "self";  ///< the sequence scores covers: "self", or "encoder" for encoder–decoder models
  int64_t position = 0;      ///< the row of R (the position whose output is explained; a decoder position for
                             ///< encoder–decoder models)
  int64_t targetId = 0;      ///< token id, or class index for classifiers
  std::string targetLabel;   ///< the token, or the class name
  bool predicted = false;    ///< the target is what the model itself predicts (the default)
  double logit = 0;          ///< the model's logit of the target (what is differentiated)
  int layers = 0;            ///< layers folded into R (encoder and decoder layers for encoder–decoder models)
  std::vector<double> scores;  ///< [T]: row position of R (includes the identity's 1 at the position itself);
                               ///< encoder–decoder: [S], row position of R_ts over the encoder's positions
  std::vector<double> decoderScores;  ///< encoder–decoder only: [T], row position of R_tt over the decoder's own
};

/// Chefer et al.'s relevancy for \p target at \p position of \p input. \p position: −1 = the last for causal
/// models and for the decoder of encoder–decoder models, else the first (the class token of classifiers).
/// \p target: language models: one token or #ID (see lensTargetId); classifiers: a label name or #INDEX; "" = the
/// model's own prediction. For classifiers the logit is the sequence's class logit and \p position only chooses the
/// row of R. \p variant (optional, prepared on \p input) must use the dense attention path (a variant with its own
/// algorithm has no probabilities to differentiate). Throws InputError for models without attention to
/// differentiate or an objective (no output head), a position or target outside the model, inputs over 1,024
/// positions (2,048 encoder and decoder positions together), or such a variant.
GradientAttention gradientAttention(LoadedModel& m, const PreparedInput& input, int64_t position = -1,
                                    const std::string& target = "", const AttentionVariant* variant = nullptr);

}  // namespace attnscope
