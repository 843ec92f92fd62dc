// Variant benchmark: (1) a 6-variant sweep at 512 tokens on a BERT-base-sized model — time per variant and the
// sweep's total as a ratio to one full forward; (2) window / block / linear vs full as the input grows, to show
// where each starts to pay off. Timed forwards record nothing (no capture), as `compare` times them.
// usage: bench_variants MODEL_DIR [--lengths 256,512,1024,2048,4096] [--repeats N]
// Make the model with: /usr/bin/python3 tests/bench/make_bert_base.py DIR 4096
#include <ATen/ops/randint.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "attnscope/Compare.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;

namespace {

class NoCapture : public AttentionHook {
 public:
  bool wantsProbabilities(const AttentionSite&) const override { return false; }
  void onProbabilities(const AttentionSite&, at::Tensor&, int64_t) override {}
};

PreparedInput randomInput(const LoadedModel& m, int64_t T) {
  PreparedInput in;
  in.tensors["input_ids"] = at::randint(1000, 20000, {1, T}, at::TensorOptions().dtype(at::kLong));  // [1, T]
  for (int64_t i = 0; i < T; ++i) in.labels.push_back(std::to_string(i));
  in.description = {{"random_tokens", T}};
  return in;
}

double timeForward(LoadedModel& m, const PreparedInput& in, const AttentionVariant* v, int repeats) {
  c10::InferenceMode guard;
  NoCapture hook;
  ForwardOptions o;
  o.hook = &hook;
  o.variant = v;
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    m.model->forward(in.tensors, o);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_variants MODEL_DIR [--lengths 256,512,...] [--repeats N]\n";
    return 2;
  }
  std::vector<int64_t> lengths = {256, 512, 1024, 2048, 4096};
  int repeats = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--repeats") repeats = std::stoi(v);
    if (k == "--lengths") {
      lengths.clear();
      std::stringstream ss(v);
      std::string x;
      while (std::getline(ss, x, ',')) lengths.push_back(std::stoll(x));
    }
  }
  try {
    auto m = loadModel(argv[1], "cpu");
    const ModelInfo& info = m->model->info();
    std::printf("model: %s, %d layers x %d heads, hidden %d, %d positions\n", info.architecture.c_str(), info.layers,
                info.heads, info.hidden, info.maxPositions);

    // (1) the 6-variant sweep at 512 tokens.
    const std::vector<std::string> sweep = {"window:w=64",      "block:size=64,global=2,random=1", "hier:block=32,keep=4",
                                            "topk:k=32",        "linear",                          "prune:ratio=0.3,by=entropy"};
    const PreparedInput in512 = randomInput(*m, 512);
    const double full = timeForward(*m, in512, nullptr, repeats);
    std::printf("\n[sweep] 512 tokens, median of %d forwards each (no capture)\n", repeats);
    std::printf("  %-34s %9.1f ms\n", "full", full * 1000);
    double total = 0;
    for (const auto& spec : sweep) {
      auto v = makeVariant(spec);
      v->prepare(*m, in512);
      const double t = timeForward(*m, in512, v.get(), repeats);
      total += t;
      std::printf("  %-34s %9.1f ms  %5.2fx full\n", spec.c_str(), t * 1000, t / full);
    }
    std::printf("  sweep of %zu variants: %.1f ms = %.2fx one full forward (goal <= 3x)\n", sweep.size(), total * 1000,
                total / full);
    const auto c0 = std::chrono::steady_clock::now();
    compareVariants(*m, in512, sweep, CompareOptions{1});
    const double cmp = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    std::printf("  full 'compare' report (baseline + 6 variants, 1 timed + 1 recorded forward each, all metrics): "
                "%.1f ms = %.2fx one full forward\n",
                cmp * 1000, cmp / full);

    // (2) speed vs length.
    const std::vector<std::string> growth = {"window:w=128", "block:size=64,global=2,random=1", "linear"};
    std::printf("\n[length] time ratio variant / full (median of %d; < 1 means the variant is faster)\n", repeats);
    std::printf("  %6s %10s", "tokens", "full ms");
    for (const auto& s : growth) std::printf(" %32s", s.c_str());
    std::printf("\n");
    for (int64_t T : lengths) {
      if (info.maxPositions > 0 && T > info.maxPositions) {
        std::printf("  %6lld skipped: the model has %d positions (make it with POSITIONS=4096)\n",
                    static_cast<long long>(T), info.maxPositions);
        continue;
      }
      const PreparedInput in = randomInput(*m, T);
      const int r = T >= 2048 ? 1 : repeats;
      const double f = timeForward(*m, in, nullptr, r);
      std::printf("  %6lld %10.1f", static_cast<long long>(T), f * 1000);
      for (const auto& s : growth) {
        auto v = makeVariant(s);
        const double t = timeForward(*m, in, v.get(), r);
        std::printf(" %22.1f ms %5.2fx", t * 1000, t / f);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  } catch (const AttnScopeError& e) {
    std::cerr << "bench_variants: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
