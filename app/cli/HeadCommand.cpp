// attnscope-cli head: one head (or a block of it) of a capture as a float32 .npy / .safetensors matrix.
#include "CliCommand.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>

#include "attnscope/CaptureFile.h"
#include "attnscope/Errors.h"
#include "attnscope/MemoryBudget.h"

namespace attnscope::cli {
namespace {

const char* const kHeadHelp =
    "usage: attnscope-cli head --capture FILE --layer L --head H [--stack S] [--rows A-B] [--cols A-B]\n"
    "                          [--fsync] --out FILE.npy|FILE.safetensors\n"
    "\n"
    "Writes the attention probabilities of one head (rows = queries, cols = keys; A-B inclusive, default "
    "all) of a\n"
    "capture of either kind as float32 [rows, cols]: read from a probabilities capture, or computed exactly "
    "from\n"
    "the queries, keys and log-sum-exp of a --store qk capture (row blocks at a time, so a 16k x 16k head "
    "needs no\n"
    "more memory than one block). .safetensors files hold the tensor \"attention\".\n"
    "The file replaces --out only once it is whole (a killed run leaves the old one); it is not flushed to disk\n"
    "first unless --fsync is given (a block is recomputed from the capture in seconds, and a 1 GB head would\n"
    "otherwise wait seconds for the disk).\n";

/// "A-B" (inclusive) or "A" within [0, n): first and count; "" = everything.
std::pair<int64_t, int64_t> rangeOption(const Args& a, const std::string& key, int64_t n) {
  const std::string text = a.get(key, "");
  if (text.empty()) return {0, n};
  auto number = [&](const std::string& t) {
    int64_t v = -1;
    if (!parseNonNegativeInt(t, &v))
      throw InputError("--" + key + " must be A-B or A with non-negative integers (got '" + text + "')");
    return v;
  };
  const auto dash = text.find('-');
  const int64_t lo = number(dash == std::string::npos ? text : text.substr(0, dash));
  const int64_t hi = dash == std::string::npos ? lo : number(text.substr(dash + 1));
  if (hi < lo) throw InputError("--" + key + " range '" + text + "' is reversed");
  if (hi >= n) throw InputError("--" + key + " " + text + " is outside 0-" + std::to_string(n - 1));
  return {lo, hi - lo + 1};
}

int cmdHead(const Args& a) {
  const auto capture = CaptureFile::open(a.require("capture"));
  const std::string out = a.require("out");
  const std::vector<std::string> stacks = capture->stacks();
  const std::string stack = a.get("stack", stacks.front());
  if (std::find(stacks.begin(), stacks.end(), stack) == stacks.end()) {
    std::string have;
    for (const auto& s : stacks) have += (have.empty() ? "" : ", ") + s;
    throw InputError("the capture has no stack '" + stack + "' (it has " + have + ")");
  }
  if (!a.has("layer") || !a.has("head")) throw InputError("give --layer L and --head H");
  const int layer = nonNegativeOption(a, "layer", -1), head = nonNegativeOption(a, "head", -1);
  const auto [tq, tk] = capture->shape(stack, layer);
  const auto [row0, rows] = rangeOption(a, "rows", tq);
  const auto [col0, cols] = rangeOption(a, "cols", tk);
  const auto start = std::chrono::steady_clock::now();
  guardAllocations([&] { writeHeadBlock(*capture, stack, layer, head, row0, rows, col0, cols, out, a.flag("fsync")); },
                   "the head");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "wrote " << out << " (" << rows << " x " << cols << " float32, "
            << (capture->kind() == CaptureKind::QueryKey ? "computed from queries and keys"
                                                         : "read from probabilities")
            << ", " << std::fixed << std::setprecision(0) << ms << " ms)\n";
  return 0;
}

}  // namespace

const CliCommand kHeadCommand{"head", "one head (or a block of it) of a capture as a float32 .npy / .safetensors matrix", kHeadHelp, {"capture", "layer", "head", "stack", "rows", "cols", "out"}, {"fsync"}, cmdHead, nullptr};

}  // namespace attnscope::cli
