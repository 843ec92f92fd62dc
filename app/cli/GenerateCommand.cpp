// attnscope-cli generate: greedy decoding; optionally save the attention of every step.
#include "CliCommand.h"

#include <iomanip>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"

namespace attnscope::cli {
namespace {

const char* const kGenerateHelp =
    "usage: attnscope-cli generate --model DIR (--text STR [--target PREFIX] | --audio PATH [--offset S] | "
    "--inputs FILE)\n"
    "                              --max-new-tokens N\n"
    "                              [--device auto|cpu|cuda[:N]] [--dtype D] [--layers ...] [--heads ...]\n"
    "                              [--variant SPEC] [--out capture.safetensors]\n"
    "\n"
    "Greedy decoding with a key/value cache; prints the prompt and continuation.\n"
    "With --out, saves attentions.<layer> [heads, T, T] where row t is the attention of\n"
    "step t (prompt rows and every generated token), plus input_ids and generated_ids.\n"
    "With --variant (other than full) the full model runs beside the variant on the variant's tokens: each step's\n"
    "KL(full || variant) of the next-token distributions and the full model's top token are printed and stored in\n"
    "the capture's metadata as variant_kl: [{step, token, kl, full_top1, agree}].\n";

int cmdGenerate(const Args& a) {
  const std::string n = a.require("max-new-tokens");
  int maxNew = 0;
  try {
    size_t used = 0;
    maxNew = std::stoi(n, &used);
    if (used != n.size()) throw std::invalid_argument(n);
  } catch (...) {
    throw InputError("--max-new-tokens must be an integer (got '" + n + "')");
  }
  const CaptureSelection sel = selectionFrom(a);
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  PreparedInput in = inputFrom(*m, a);
  std::unique_ptr<AttentionVariant> variant;
  if (a.has("variant")) {
    variant = makeVariant(a.get("variant"));
    variant->prepare(*m, in);
  }
  GenerateResult g = generate(*m, in, maxNew, sel, nullptr, variant.get());
  std::cout << g.text << "\n";
  std::cerr << "generated " << (g.ids.size() - g.promptLength) << " tokens in " << std::fixed
            << std::setprecision(1) << g.seconds * 1000 << " ms\n";
  if (!g.stepKl.empty()) {
    // The variant against the full model, step by step (the full model follows the variant's tokens).
    std::cerr << "step  token                KL(full||" << g.variant << ")  full's top token\n";
    for (const auto& s : stepKlJson(*m, g))
      std::cerr << std::setw(4) << s["step"].get<int>() << "  " << std::left << std::setw(20)
                << ("'" + s["token"].get<std::string>() + "'") << std::right << std::setw(10) << std::setprecision(4)
                << s["kl"].get<double>() << "   " << (s["agree"].get<bool>() ? "same" : "'" + s["full_top1"].get<std::string>() + "'")
                << "\n";
  }
  if (a.has("out")) {
    saveGeneration(a.get("out"), *m, in, g);
    std::cerr << "wrote " << a.get("out") << "\n";
  }
  return 0;
}

}  // namespace

const CliCommand kGenerateCommand{"generate", "greedy decoding; optionally save the attention of every step", kGenerateHelp, {"model", "text", "target", "inputs", "audio", "offset", "max-new-tokens", "device", "dtype", "layers", "heads", "out", "variant"}, {}, cmdGenerate, nullptr};

}  // namespace attnscope::cli
