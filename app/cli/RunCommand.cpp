// attnscope-cli run: run a model on one input and save every head's attention.
#include "CliCommand.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>

#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"
#include "attnscope/MemoryBudget.h"

namespace attnscope::cli {
namespace {

const char* const kRunHelp =
    "usage: attnscope-cli run --model DIR (--text STR [--text-pair STR | --target STR] | --image PATH\n"
    "                                      | --audio PATH [--offset S]\n"
    "                                      | --inputs FILE.safetensors)\n"
    "                         [--device auto|cpu|cuda[:N]] [--dtype D] [--layers 0,2-5] [--heads 0-3]\n"
    "                         [--logits all|last|none] [--variant SPEC] [--store auto|probs|qk]\n"
    "                         [--memory-budget SIZE] --out capture.safetensors\n"
    "\n"
    "Runs the model once and writes a safetensors capture file:\n"
    "  attentions.<layer>   float32 [heads, q, k] attention probabilities (selected layers/heads; --store "
    "probs)\n"
    "  queries.<layer>, keys.<layer>, lse.<layer>   (--store qk) float32 [heads, q, d], [kv_heads, k, d] and "
    "each\n"
    "                       row's log-sum-exp [heads, q]: every cell is exp(q.k*scale + bias - lse), "
    "computed on demand\n"
    "                       by `head`, `figure`, `overlay` and the GUI; linear in the length instead of "
    "quadratic\n"
    "  last_hidden_state    float32 [T, hidden]\n"
    "  logits               float32 [T, vocab] (language models) or [labels] (classifiers)\n"
    "  input_ids, ...       the exact model inputs (so the file can be fed back with --inputs)\n"
    "  __metadata__         {\"attnscope\": JSON with model, family, token labels, input, prediction}\n"
    "\n"
    "--inputs feeds exact model inputs by their Hugging Face names (input_ids, token_type_ids, "
    "attention_mask,\n"
    "pixel_values, input_values, input_features, decoder_input_ids) for bit-for-bit reproduction.\n"
    "--target (T5, BART): the decoder is teacher-forced with the target text (decoder start token + its "
    "tokens, as\n"
    "HF shifts labels); without it the decoder sees the start token alone.\n"
    "--image: PNG/JPEG/BMP/WebP/TIFF, preprocessed as the model's preprocessor_config.json says.\n"
    "--audio: WAV/FLAC/OGG/MP3, down-mixed and resampled to the model's rate; --offset picks the window "
    "start.\n"
    "--store auto (default) keeps probabilities when they fit the memory budget, else queries and keys, and "
    "says\n"
    "which on stderr. Before anything is allocated the run's peak memory (weights, activations, the store) "
    "is\n"
    "estimated; a run that cannot fit exits 2 naming both numbers. --memory-budget SIZE (8G, 512M) replaces "
    "the\n"
    "default budget: what the machine can give now (MemAvailable, the cgroup limit, ulimit -v, less a "
    "margin).\n"
    "--logits last computes the last position's logits only (logits_last); it is the default when the logits "
    "of\n"
    "every position would exceed 1 GB.\n";

/// The memory budget of a command: --memory-budget, or what the machine can give now.
std::pair<int64_t, std::string> memoryBudgetFrom(const Args& a) {
  if (a.has("memory-budget"))
    return {parseMemorySize(a.get("memory-budget"), "--memory-budget"), "--memory-budget"};
  return {availableMemory(), "what this machine can give now"};
}

int cmdRun(const Args& a) {
  const std::string out = a.require("out");
  LogitsMode logits = LogitsMode::All;
  const std::string lm = a.get("logits", "all");
  if (lm == "last")
    logits = LogitsMode::Last;
  else if (lm == "none")
    logits = LogitsMode::None;
  else if (lm != "all")
    throw InputError("--logits must be all, last or none (got '" + lm + "')");
  const std::string store = a.get("store", "auto");
  if (store != "auto" && store != "probs" && store != "qk")
    throw InputError("--store must be auto, probs or qk (got '" + store + "')");
  CaptureSelection sel = selectionFrom(a);
  const auto [budget, budgetSource] = memoryBudgetFrom(a);
  const std::string dir = a.require("model"), device = a.get("device", "auto"),
                    dtype = a.get("dtype", "auto");
  if (std::filesystem::is_directory(dir)) {
    const int64_t weights = estimateWeightBytes(dir, device, dtype);
    if (weights > budget)
      throw OutOfMemoryError("the weights alone need about " + formatGigabytes(weights) +
                             " but the memory budget is " + formatGigabytes(budget) + " (" + budgetSource +
                             ")");
  }
  auto m = guardAllocations([&] { return loadModel(dir, device, dtype); }, "loading the model");
  PreparedInput in = inputFrom(*m, a);
  std::unique_ptr<AttentionVariant> variant;
  if (a.has("variant")) {
    variant = makeVariant(a.get("variant"));
    variant->prepare(*m, in);
  }
  const bool plainAttention = !variant || variant->isIdentity();
  if (store == "qk" && !plainAttention)
    throw InputError("the variant '" + variant->spec() +
                     "' cannot be stored as queries and keys (its attention is not " +
                     "exp(q.k*scale + bias - lse)); use --store probs");
  // Long inputs: the logits of every position can outweigh everything else; without --logits, keep the last.
  bool lastLogits = logits == LogitsMode::Last;
  if (!a.has("logits") && allLogitsBytes(*m, in) > (int64_t(1) << 30)) {
    lastLogits = true;
    std::cerr << "note: the logits of all " << in.labels.size() << " positions would take "
              << formatGigabytes(allLogitsBytes(*m, in))
              << "; keeping the last position's (--logits all keeps every one)\n";
  }
  CaptureSelection probs = sel, qk = sel;
  probs.kind = CaptureKind::Probabilities;
  qk.kind = CaptureKind::QueryKey;
  const MemoryEstimate probsEstimate = estimateRun(*m, in, probs, lastLogits, !plainAttention),
                       qkEstimate = estimateRun(*m, in, qk, lastLogits, !plainAttention);
  if (store == "qk" || (store == "auto" && autoStoreKind(probsEstimate, budget, plainAttention) ==
                                               CaptureKind::QueryKey))
    sel = qk;
  else
    sel = probs;
  const MemoryEstimate& estimate = sel.kind == CaptureKind::QueryKey ? qkEstimate : probsEstimate;
  checkFits(estimate, sel.kind, budget, budgetSource);
  if (store == "auto")
    std::cerr << "store: " << (sel.kind == CaptureKind::QueryKey ? "queries and keys" : "probabilities")
              << " (run needs about " << estimate.describe(sel.kind) << "; budget " << formatGigabytes(budget)
              << ")\n";
  RunResult r = runModel(*m, in, sel, nullptr, variant.get(), lastLogits);
  saveCapture(out, *m, in, r, logits);
  std::cerr << "tokens (" << in.labels.size() << "):";
  const size_t shown = std::min<size_t>(in.labels.size(), 64);
  for (size_t i = 0; i < shown; ++i) std::cerr << " [" << in.labels[i] << "]";
  if (shown < in.labels.size()) std::cerr << " ... (" << in.labels.size() - shown << " more)";
  std::cerr << "\nforward: " << std::fixed << std::setprecision(1) << r.seconds * 1000 << " ms on "
            << m->model->info().device << "\n";
  if (!r.prediction.empty()) std::cout << r.prediction.dump() << "\n";
  const size_t tensors = r.capture->records().size() + r.capture->queryKeys().size();
  std::cerr << "wrote " << out << " (" << tensors << " attention layers, "
            << (sel.kind == CaptureKind::QueryKey ? "queries and keys" : "probabilities") << ")\n";
  return 0;
}

}  // namespace

const CliCommand kRunCommand{"run", "run a model on one input and save every head's attention", kRunHelp, {"model", "text", "text-pair", "target", "inputs", "image", "audio", "offset", "device", "dtype", "layers", "heads", "out", "logits", "variant", "store", "memory-budget"}, {}, cmdRun, nullptr};

}  // namespace attnscope::cli
