// Capture benchmark, our side: loads a model folder with the engine and answers
// "T" lines on stdin with the wall time (ms) of one forward + capture of every
// layer and head on T random tokens. Driven by capture_bench.py, which
// alternates it with the PyTorch eager reference.
//   bench_capture MODEL_DIR
#include <chrono>
#include <iostream>
#include <random>
#include <string>

#include <ATen/Parallel.h>
#include <ATen/ops/tensor.h>
#include <cstdlib>

#include "attnscope/Engine.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_capture MODEL_DIR  (then write token counts, one per line, on stdin)\n";
    return 2;
  }
  try {
    // With OMP_WAIT_POLICY=PASSIVE (run.sh exports it) idle OpenMP threads sleep instead of spinning
    // against OpenBLAS's pthreads, so elementwise ops (softmax, GELU, LayerNorm) may use every core.
    if (const char* w = std::getenv("ATTNSCOPE_THREADS")) at::set_num_threads(std::atoi(w));
    auto m = attnscope::loadModel(argv[1], "cpu");
    std::mt19937 rng(1);
    std::uniform_int_distribution<int64_t> dist(0, m->model->info().vocab - 1);
    std::cout << "ready" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
      const int64_t T = std::stoll(line);
      std::vector<int64_t> ids(T);
      for (auto& id : ids) id = dist(rng);
      attnscope::PreparedInput in;
      in.tensors["input_ids"] = at::tensor(ids, at::kLong).unsqueeze(0);  // [1, T]
      const auto t0 = std::chrono::steady_clock::now();
      attnscope::RunResult r = attnscope::runModel(*m, in);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r.capture->records().size() != static_cast<size_t>(m->model->info().layers)) return 3;
      std::cout << ms << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_capture: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
