// attnscope-cli prune-sweep: prune 0..90 % of the heads in importance order and measure the output drift.
#include "CliCommand.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "CliFigures.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/Errors.h"
#include "attnscope/PruneSweep.h"

namespace attnscope::cli {
namespace {

const char* const kPruneSweepHelp =
    "usage: attnscope-cli prune-sweep --model DIR (--text STR | --image PATH | --audio PATH [--offset S]\n"
    "                                  | --inputs FILE.safetensors)\n"
    "                                 [--ratios 0,0.1,...,0.9] [--order importance|entropy|random] [--seed "
    "N]\n"
    "                                 [--repeats N] [--device D] [--dtype D] --out sweep.json\n"
    "                                 [--figure sweep.pdf|svg|png] [--dpi N]\n"
    "\n"
    "Michel et al.'s pruning curve: ranks every head (importance |dL/dxi| of the model's own objective, "
    "least\n"
    "important first; entropy, most diffuse first; or a seeded random order), prunes the first round(ratio x "
    "heads)\n"
    "of them at each ratio (so each point prunes a superset of the previous one) and measures how far the "
    "output\n"
    "drifts from the full model. sweep.json: {model, order, seed, total_heads, ranking,\n"
    "points: [{ratio, pruned: [\"L3H2\", ...], logits_kl, top1_agreement, js_mean, ms}]} (logits_kl and\n"
    "top1_agreement are null for models without logits). --figure draws the curve.\n";

int cmdPruneSweep(const Args& a) {
  const std::string out = a.require("out");
  PruneSweepOptions options;
  if (a.has("ratios")) options.ratios = parseRatios(a.get("ratios"));
  options.order = a.get("order", "importance");
  if (options.order != "importance" && options.order != "entropy" && options.order != "random")
    throw InputError("--order must be importance, entropy or random (got '" + options.order + "')");
  auto integer = [&](const std::string& name, const std::string& fallback, long long lo) {
    const std::string v = a.get(name, fallback);
    size_t used = 0;
    long long n = 0;
    try {
      n = std::stoll(v, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != v.size() || n < lo)
      throw InputError("--" + name + " must be an integer >= " + std::to_string(lo) + " (got '" + v + "')");
    return n;
  };
  options.seed = static_cast<uint64_t>(integer("seed", "0", 0));
  options.repeats = static_cast<int>(std::min<long long>(integer("repeats", "1", 1), 100));
  [[maybe_unused]] const int dpi = static_cast<int>(integer("dpi", "300", 36));
  const std::string figure = figureArg(a);
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  PreparedInput in = inputFrom(*m, a);
  const PruneSweepResult sweep = pruneSweep(*m, in, options);
  writeFileAtomically(out, sweep.toJson(m->dir).dump(2) + "\n");
  std::cout << std::right << std::setw(7) << "ratio" << std::setw(8) << "heads" << std::setw(12)
            << "logits KL" << std::setw(10) << "top-1" << std::setw(10) << "mean JS" << std::setw(10) << "ms"
            << "\n";
  for (const auto& p : sweep.points)
    std::cout << std::fixed << std::setprecision(2) << std::setw(7) << p.ratio << std::setw(8)
              << p.pruned.size() << std::setprecision(4) << std::setw(12) << p.logitsKl
              << std::setprecision(3) << std::setw(10) << p.top1Agreement << std::setprecision(4)
              << std::setw(10) << p.jsMean << std::setprecision(1) << std::setw(10) << p.ms << "\n";
  std::cerr << "wrote " << out << "\n";
#ifdef ATTNSCOPE_CLI_FIGURES
  if (!figure.empty()) {
    SweepCurve curve;
    curve.title = std::filesystem::path(m->dir).filename().string() + ": pruning by " + sweep.order;
    for (const auto& p : sweep.points) {
      curve.ratios.push_back(p.ratio);
      curve.logitsKl.push_back(p.logitsKl);
      curve.top1.push_back(p.top1Agreement);
      curve.jsMean.push_back(p.jsMean);
    }
    drawFigure(figure, [&] { renderSweepFigureHeadless(curve, figure, dpi); });
  }
#endif
  return 0;
}

}  // namespace

const CliCommand kPruneSweepCommand{"prune-sweep", "prune 0..90 % of the heads in importance order and measure the output drift", kPruneSweepHelp, {"model", "text", "text-pair", "target", "inputs", "image", "audio", "offset", "device", "dtype", "ratios", "order", "seed", "repeats", "out", "figure", "dpi"}, {}, cmdPruneSweep, nullptr};

}  // namespace attnscope::cli
