#pragma once
/// \file LogitLens.h
/// The logit lens (nostalgebraist 2020): the residual stream after every layer read through the model's own final
/// norm and token output head (Model::outputHead), for every family with a token output head — decoder language
/// models, and encoders through their masked-LM head.

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnscope/Engine.h"

namespace attnscope {

/// The lens logits of \p input: one [T, V] float32 tensor per layer (layer 0 first), each the residual stream after
/// that layer through the output head; \p modelLogits (optional) receives forward()'s own [T, V] logits of the same
/// run. Throws InputError when the model has no token output head.
std::vector<at::Tensor> lensLogits(LoadedModel& m, const PreparedInput& input, at::Tensor* modelLogits = nullptr);

/// The id of \p target: "#123" is the id 123; any other text must tokenize to exactly one token (InputError naming
/// the pieces otherwise, or an id outside the vocabulary).
int64_t lensTargetId(const LoadedModel& m, const std::string& target);

struct ModelInfo;
/// The class a classifier's \p target names: "" = none (−1), "#INDEX" (INDEX < \p classes), or one of the
/// model's labels. Throws InputError otherwise.
int64_t classTargetId(const ModelInfo& info, int64_t classes, const std::string& target);

/// The logit lens as the CLI's lens.json:
/// {"model", "stack", "positions": [labels], "target": {"id", "token"} or null,
///  "layers": [{"layer", "positions": [{"position", "token", "top": [{"token", "id", "p"}], "target_id",
///                                      "target_p", "target_rank"}]}]}.
/// \p target: one token (see lensTargetId); "" = at each position the token the model itself predicts there (the
/// last layer's top 1). target_rank counts the tokens with a larger logit (0 = the top). \p topK tokens per cell.
nlohmann::json logitLens(LoadedModel& m, const PreparedInput& input, const std::string& target = "", int topK = 10);

}  // namespace attnscope
