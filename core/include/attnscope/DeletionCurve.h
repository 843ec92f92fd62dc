#pragma once
/// \file DeletionCurve.h
/// Faithfulness by deletion: remove the input tokens, patches or frames (or the attention heads) in the order an
/// attribution ranks them, most important first, and follow the probability of the target — the token predicted
/// at the last position of a causal language model or of an encoder–decoder model's decoder (its encoder's input is
/// what is removed), or a classifier's class; a method whose curve falls fastest
/// (smallest area under it) ranks what the prediction really depends on. Plain types only (no torch header).

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace attnscope {

struct LoadedModel;
struct PreparedInput;

/// One method's curve.
struct DeletionCurve {
  std::string method;
  std::string unit;                   ///< "tokens", "patches", "frames" or "heads"
  std::vector<double> fractions;      ///< of the removable tokens / of all heads, from 0 to 1
  std::vector<double> probabilities;  ///< the target's probability after removing that fraction
  double auc = 0;                     ///< area under the curve (trapezoids over the fractions)
  std::vector<std::string> order;     ///< what was removed, first first ("12: ' named'", "L3H2")
};

/// Every method's curve for one input.
struct DeletionResult {
  std::string model;
  int64_t position = 0;  ///< the scored position: the last (language models; the decoder's for encoder–decoder
                         ///< models) or the first ([CLS], classifiers)
  std::string unit;      ///< what the token methods remove: "tokens", "patches" or "frames"
  bool classTarget = false;  ///< the target is a classifier's class (else a token at the last position)
  /// The sequence of the scored position: "self", or "decoder" for encoder–decoder models (whose encoder's input is
  /// what is removed).
  std::string positionStack = "self";
  int64_t targetId = 0;
  std::string target;
  double probability = 0;  ///< the target's probability with nothing removed
  /// Positions that can be removed: tokens but the special ones (and a language model's last), every patch or
  /// frame (not the prefix tokens); an encoder–decoder model's encoder tokens or frames.
  int removable = 0;
  std::vector<DeletionCurve> curves;
};

/// The methods deletionCurves() takes: token rankings "rollout", "flow" (attention flow), "attention" (the
/// last layer's mean attention of the last position), "alti", "value-zeroing", "grad-attn" (gradient × attention of the target),
/// "random"; head rankings "dla" (direct logit attribution, the most positive heads first, removed with the prune
/// variant; language models, and pre-norm encoder–decoder models' decoder and cross-attention heads) and
/// "random-heads".
std::vector<std::string> deletionMethods();

/// The methods of deletionMethods() that apply to \p m, in the same order: every method for causal language
/// models (dla where the family reports direct logit attribution, alti and value-zeroing where it reports its
/// residual writes), all but dla for classifiers, attention, grad-attn, random, dla (pre-norm ones) and random-heads
/// for encoder–decoder models; none for models without a target to follow (no output head).
std::vector<std::string> deletionMethods(const LoadedModel& m);

/// Deletion curves of \p input for \p methods at \p steps + 1 evenly spaced fractions. \p target: a token or
/// #ID for a language model ("" = the token it predicts at the last position), a label or #INDEX for a classifier
/// ("" = its prediction). Tokens are removed from the sequence (the rest keep their order; special tokens and a
/// language model's last position never are); an image's patches are blanked to 0 (the normalised mean colour);
/// an audio classifier's frames are silenced (their feature rows zeroed, or the waveform's samples of their
/// hop). Encoder–decoder models (T5, BART, Whisper): the target is the decoder's prediction at its last position;
/// the encoder's source tokens are dropped, or its audio frames silenced (their log-mel columns set to the features'
/// floor, Whisper's silence); encoder tokens are ranked by attention (the last layer's cross-attention of that
/// position), grad-attn (the encoder–decoder rules) or random, heads by random-heads (a pruned head is pruned in every
/// stack of its layer) or dla (the decoder's own and its cross-attention heads by their direct logit attribution,
/// each pruned in its stack only: decoder.LxHy, cross.LxHy). Token rankings score the last position of a language model, a classifier's first. \p seed
/// fixes the random orders. Throws InputError for an unknown method, a model that is none of those kinds, dla on a
/// classifier, a method that does not cover encoder–decoder models, or steps outside 1..100.
DeletionResult deletionCurves(LoadedModel& m, const PreparedInput& input,
                              const std::vector<std::string>& methods, const std::string& target = "",
                              int steps = 10, uint64_t seed = 0);

/// The CLI's curve.json: {"method": "deletion", "model", "position", "position_stack" ("self" or "decoder"),
/// "target_id", "target", "target_kind" ("token" or "class"), "p", "unit", "removable",
/// "curves": [{"method", "unit", "fractions", "probabilities", "auc", "order"}]}.
nlohmann::json toJson(const DeletionResult& result);

}  // namespace attnscope
