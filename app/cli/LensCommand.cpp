// attnscope-cli lens: the logit lens: every layer's residual stream through the model's output head.
#include "CliCommand.h"

#include <iostream>

#include "attnscope/AtomicFile.h"
#include "attnscope/Errors.h"
#include "attnscope/LogitLens.h"
#include "attnscope/MemoryBudget.h"

namespace attnscope::cli {
namespace {

const char* const kLensHelp =
    "usage: attnscope-cli lens --model DIR (--text STR [--text-pair STR | --decoder-text STR] | --audio PATH |\n"
    "                          --inputs FILE) [--target TOKEN|#ID] [--top K] [--device D] [--dtype D] --out lens.json\n"
    "\n"
    "The logit lens: the residual stream after every layer read through the model's own final norm and token "
    "output\n"
    "head (decoder language models; encoders through their masked-LM head; encoder-decoder models (T5, BART,\n"
    "Whisper) through their decoder, whose tokens --decoder-text gives). For every layer and position: "
    "the top K\n"
    "tokens (default 10) with their probabilities, and the probability and rank of the target — TOKEN (one "
    "token of\n"
    "the vocabulary, or #ID), or by default the token the model itself predicts at that position. The last "
    "layer's\n"
    "lens is the model's own output. lens.json: {model, stack, positions, target, layers: [{layer, "
    "positions: [{\n"
    "position, token, top: [{token, id, p}], target_id, target_p, target_rank}]}]}.\n";

int cmdLens(const Args& a) {
  const std::string out = a.require("out");
  int64_t top = 10;
  if (a.has("top") && (!parseNonNegativeInt(a.get("top"), &top) || top < 1 || top > 1000))
    throw InputError("--top must be a whole number in 1..1000 (got '" + a.get("top") + "')");
  auto m = guardAllocations(
      [&] { return loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto")); },
      "loading the model");
  PreparedInput in = outputTokenInput(*m, a);
  const nlohmann::json lens = guardAllocations(
      [&] { return logitLens(*m, in, a.get("target", ""), static_cast<int>(top)); }, "the logit lens");
  writeFileAtomically(out, lens.dump(1) + "\n");
  std::cerr << "wrote " << out << " (" << lens["layers"].size() << " layers x " << lens["positions"].size()
            << " positions)\n";
  return 0;
}

}  // namespace

const CliCommand kLensCommand{"lens", "the logit lens: every layer's residual stream through the model's output head", kLensHelp, {"model", "text", "text-pair", "inputs", "audio", "offset", "decoder-text", "target", "top", "device", "dtype", "out"}, {}, cmdLens, nullptr};

}  // namespace attnscope::cli
