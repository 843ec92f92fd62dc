// attnscope-cli deletion: faithfulness: remove tokens or heads in an attribution's order, follow the target's probability.
#include "CliCommand.h"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <vector>

#include "CliFigures.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/DeletionCurve.h"
#include "attnscope/Errors.h"
#include "attnscope/MemoryBudget.h"

namespace attnscope::cli {
namespace {

const char* const kDeletionHelp =
    "usage: attnscope-cli deletion --model DIR (--text STR [--decoder-text STR] | --image PATH | --audio PATH\n"
    "                              [--offset S] | --inputs FILE)\n"
    "                              --methods a,b,c [--target TOKEN|#ID|LABEL|#INDEX] [--steps N] [--seed S]\n"
    "                              [--device D] [--dtype D] --out curve.json [--figure FILE.pdf|svg|png] [--dpi N]\n"
    "\n"
    "Deletion curves: remove the input's positions in the order a method ranks them, most important first, at\n"
    "N + 1 evenly spaced fractions (default N = 10), and follow the probability of TARGET. Causal language\n"
    "models: tokens are dropped from the sequence (never the last position or special tokens) and TARGET is a\n"
    "token at the last position (default: the predicted one). Classifiers (text, image, audio): tokens are\n"
    "dropped (not the special ones), an image's patches blanked to 0 (the normalised mean colour), an audio\n"
    "model's frames silenced; TARGET is a class (label or #INDEX; default: the predicted one) and the rankings\n"
    "score the first position ([CLS]). Encoder-decoder models (T5, BART, Whisper): TARGET is the decoder's\n"
    "token at its last position (the decoder reads --decoder-text, else its start token alone; --inputs gives\n"
    "exact ids); the\n"
    "encoder's source tokens are dropped or its frames silenced (log-mel columns set to the features' floor);\n"
    "the rankings that apply are attention (the last layer's cross-attention), grad-attn, random and\n"
    "random-heads. Token methods: rollout, flow (attention flow), attention (the last\n"
    "layer's mean attention of the scored position), alti, value-zeroing, grad-attn (gradient x attention),\n"
    "random (seeded by S); head methods, which prune heads with the prune variant: dla (language models: the\n"
    "heads with the largest direct logit attribution first), random-heads. A faithful ranking falls fastest: a\n"
    "smaller area under the curve.\n"
    "curve.json: {method: \"deletion\", model, position, position_stack (self | decoder), target_id, target,\n"
    "target_kind (token | class), p,\n"
    "unit (tokens | patches | frames),\n"
    "removable, curves: [{method, unit, fractions, probabilities, auc, order}]}. --figure draws every curve on\n"
    "one plot.\n";

int cmdDeletion(const Args& a) {
  const std::string out = a.require("out");
  std::vector<std::string> methods;
  std::stringstream list(a.require("methods"));
  for (std::string item; std::getline(list, item, ',');)
    if (!item.empty()) methods.push_back(item);
  int64_t steps = 10, seed = 0;
  if (a.has("steps") && (!parseNonNegativeInt(a.get("steps"), &steps) || steps < 1 || steps > 100))
    throw InputError("--steps must be a whole number in 1..100 (got '" + a.get("steps") + "')");
  if (a.has("seed") && !parseNonNegativeInt(a.get("seed"), &seed))
    throw InputError("--seed must be a whole number (got '" + a.get("seed") + "')");
  [[maybe_unused]] const int dpi = dpiArg(a);
  const std::string figure = figureArg(a);
  const std::vector<std::string> known = deletionMethods();
  for (const std::string& method : methods)
    if (std::find(known.begin(), known.end(), method) == known.end())
      throw InputError("--methods: unknown method '" + method +
                       "' (known: rollout, flow, attention, alti, value-zeroing, grad-attn, random, dla, random-heads)");
  auto m = guardAllocations(
      [&] { return loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto")); },
      "loading the model");
  PreparedInput in = outputTokenInput(*m, a);
  const DeletionResult result = guardAllocations(
      [&] {
        return deletionCurves(*m, in, methods, a.get("target", ""), static_cast<int>(steps),
                              static_cast<uint64_t>(seed));
      },
      "the deletion curves");
  writeFileAtomically(out, toJson(result).dump(1) + "\n");
  for (const DeletionCurve& c : result.curves)
    std::cout << std::left << std::setw(14) << c.method << " AUC " << std::fixed << std::setprecision(4)
              << c.auc << "\n";
  std::cerr << "wrote " << out << "\n";
#ifdef ATTNSCOPE_CLI_FIGURES
  drawFigure(figure, [&] { renderDeletionFigureHeadless(result, figure, dpi); });
#endif
  return 0;
}

}  // namespace

const CliCommand kDeletionCommand{"deletion", "faithfulness: remove tokens or heads in an attribution's order, follow the target's "
    "probability", kDeletionHelp, {"model", "text", "decoder-text", "inputs", "image", "audio", "offset", "methods", "target", "steps", "seed", "device", "dtype", "out", "figure", "dpi"}, {}, cmdDeletion, nullptr};

}  // namespace attnscope::cli
