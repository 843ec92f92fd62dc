// Long-input benchmark (issue: "Long inputs and real-sized models"). Makes a random Llama (6 layers, hidden 512,
// 8 query / 2 key-value heads, head size 64, vocabulary 4,096) and measures, each in a fresh process so that its peak
// RSS is its own:
//   forward   the forward pass without capture
//   run       the forward with the queries/keys capture of every layer, and writing the capture file
//   head      one whole head materialised from that capture into a .npy file, and a 1,000-row block
//   gui       what the GUI does (EngineSession): the time until layer 0 is recorded while the forward goes on, its
//             head at screen resolution (800 px) from queries and keys, a head switch, and a zoomed 100 x 100 tile
// Prints the times, the ratios the issue sets targets for, and each process's peak RSS.
//   bench_long_input [TOKENS=16384] [--qwen] [--keep]   (--qwen: a Qwen2.5-0.5B-sized model at 4,096 tokens
//   instead; --keep: leave the model and capture in the temporary folder, to re-run one step on them)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/TensorOperators.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/ones.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <c10/core/InferenceMode.h>

#include "attnscope/CaptureFile.h"
#include "attnscope/Engine.h"
#include "attnscope/EngineSession.h"
#include "attnscope/SafetensorsFile.h"

using namespace attnscope;
namespace fs = std::filesystem;

namespace {

struct Shape {
  int layers, hidden, heads, kvHeads, intermediate, vocab;
};

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void makeModel(const std::string& dir, const Shape& s, int64_t tokens) {
  fs::create_directories(dir);
  const int64_t d = s.hidden / s.heads;
  nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                           {"model_type", "llama"},
                           {"hidden_size", s.hidden},
                           {"intermediate_size", s.intermediate},
                           {"num_hidden_layers", s.layers},
                           {"num_attention_heads", s.heads},
                           {"num_key_value_heads", s.kvHeads},
                           {"vocab_size", s.vocab},
                           {"max_position_embeddings", 32768},
                           {"rms_norm_eps", 1e-6},
                           {"rope_theta", 10000.0},
                           {"hidden_act", "silu"},
                           {"tie_word_embeddings", false},
                           {"torch_dtype", "float32"}};
  std::ofstream(dir + "/config.json") << config.dump(2);
  at::manual_seed(0);
  SafetensorsWriter w;
  auto normal = [](std::vector<int64_t> shape) { return at::randn(shape) * 0.02; };
  w.add("model.embed_tokens.weight", normal({s.vocab, s.hidden}));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.add(p + "self_attn.q_proj.weight", normal({s.heads * d, s.hidden}));
    w.add(p + "self_attn.k_proj.weight", normal({s.kvHeads * d, s.hidden}));
    w.add(p + "self_attn.v_proj.weight", normal({s.kvHeads * d, s.hidden}));
    w.add(p + "self_attn.o_proj.weight", normal({s.hidden, s.heads * d}));
    w.add(p + "mlp.gate_proj.weight", normal({s.intermediate, s.hidden}));
    w.add(p + "mlp.up_proj.weight", normal({s.intermediate, s.hidden}));
    w.add(p + "mlp.down_proj.weight", normal({s.hidden, s.intermediate}));
    w.add(p + "input_layernorm.weight", at::ones({s.hidden}));
    w.add(p + "post_attention_layernorm.weight", at::ones({s.hidden}));
  }
  w.add("model.norm.weight", at::ones({s.hidden}));
  w.add("lm_head.weight", normal({s.vocab, s.hidden}));
  w.write(dir + "/model.safetensors");
  SafetensorsWriter in;
  in.add("input_ids", at::randint(0, s.vocab, {1, tokens}, at::kLong));  // [1, T]
  in.write(dir + "/inputs.safetensors");
}

/// Runs this program with \p args; returns its stdout and sets \p peakMb to its peak RSS.
std::string child(const std::string& self, const std::vector<std::string>& args, double* peakMb) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    std::vector<char*> argv{const_cast<char*>(self.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("child " + args[0] + " failed");
  *peakMb = ru.ru_maxrss / 1024.0;
  return out;
}

double field(const std::string& out, const std::string& key) {
  std::istringstream ss(out);
  std::string k;
  double v;
  while (ss >> k >> v)
    if (k == key) return v;
  throw std::runtime_error("no " + key + " in child output");
}

int childMain(int argc, char** argv) {
  const std::string mode = argv[1], dir = argv[2];
  if (mode == "head") {
    // A 16-row block first (loads the library's kernels and threads, as any earlier command of the process would),
    // then the 1,000-row block, then the whole head — the block before the head, so that it does not wait for the
    // disk to write back the head's 1 GB.
    const auto cap = CaptureFile::open(dir + "/capture.safetensors");
    const auto [tq, tk] = cap->shape("self", 3);
    writeHeadBlock(*cap, "self", 3, 5, 0, 16, 0, tk, dir + "/warm.npy");
    auto t0 = std::chrono::steady_clock::now();
    writeHeadBlock(*cap, "self", 3, 5, tq / 2, std::min<int64_t>(1000, tq / 2), 0, tk, dir + "/block.npy");
    std::cout << "block_ms " << msSince(t0) << "\n";
    t0 = std::chrono::steady_clock::now();
    writeHeadBlock(*cap, "self", 3, 5, 0, tq, 0, tk, dir + "/head.npy");
    std::cout << "head_ms " << msSince(t0) << "\n";
    return 0;
  }
  if (mode == "gui") {  // what the GUI does: layer 0 arrives while the forward goes on, tiles from queries and keys
    auto session = EngineSession::open(dir, "cpu");
    RunRequest request;
    request.inputsPath = dir + "/inputs.safetensors";
    request.store = "qk";
    const auto t0 = std::chrono::steady_clock::now();
    bool first = true;
    session->run(request, {}, {}, [&](std::shared_ptr<const CaptureResult> p) {
      if (!first) return;
      first = false;
      std::cout << "first_layer_ms " << msSince(t0) << "\n";
      const AttentionMatrix& a = p->layers.front();
      const int screen = 800, b = (a.q + screen - 1) / screen;  // the whole head on an 800-pixel view
      int rows = 0, cols = 0;
      auto t1 = std::chrono::steady_clock::now();
      p->source->blockMaxima(a.stack, a.layer, 0, 0, a.q, 0, a.k, b, b, &rows, &cols);
      std::cout << "first_tile_ms " << msSince(t1) << "\n";
      std::cout << "first_heatmap_ms " << msSince(t0) << "\n";
      t1 = std::chrono::steady_clock::now();
      p->source->blockMaxima(a.stack, a.layer, 1, 0, a.q, 0, a.k, b, b, &rows, &cols);
      std::cout << "head_switch_ms " << msSince(t1) << "\n";
      t1 = std::chrono::steady_clock::now();  // zoomed in until every cell is drawn: a 100 × 100 window, exact
      p->source->blockMaxima(a.stack, a.layer, 1, a.q / 2, a.q / 2 + 100, a.q / 3, a.q / 3 + 100, 1, 1, &rows, &cols);
      std::cout << "zoom_tile_ms " << msSince(t1) << "\n";
    });
    std::cout << "gui_run_ms " << msSince(t0) << "\n";
    return 0;
  }
  auto m = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*m, dir + "/inputs.safetensors");
  if (mode == "forward") {
    c10::InferenceMode guard;
    ForwardOptions options;
    options.lastLogitsOnly = true;
    const auto t0 = std::chrono::steady_clock::now();
    m->model->forward(in.tensors, options);
    std::cout << "forward_ms " << msSince(t0) << "\n";
  } else {
    CaptureSelection sel;
    sel.kind = CaptureKind::QueryKey;
    const auto t0 = std::chrono::steady_clock::now();
    RunResult r = runModel(*m, in, sel, nullptr, nullptr, true);
    std::cout << "run_ms " << r.seconds * 1000 << "\n";
    saveCapture(dir + "/capture.safetensors", *m, in, r, LogitsMode::Last);
    std::cout << "run_write_ms " << msSince(t0) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 3 && std::string(argv[1]).find('/') == std::string::npos && fs::is_directory(argv[2]))
      return childMain(argc, argv);
    bool qwen = false, keep = false;
    int64_t tokens = 16384;
    for (int i = 1; i < argc; ++i) {
      if (std::string(argv[i]) == "--qwen") qwen = true;
      else if (std::string(argv[i]) == "--keep") keep = true;
      else tokens = std::stoll(argv[i]);
    }
    const Shape shape = qwen ? Shape{24, 896, 14, 2, 4864, 151936} : Shape{6, 512, 8, 2, 1376, 4096};
    if (qwen && tokens == 16384) tokens = 4096;
    const std::string dir = (fs::temp_directory_path() / ("attnscope-bench-long-" + std::to_string(getpid()))).string();
    makeModel(dir, shape, tokens);
    const std::string self = fs::read_symlink("/proc/self/exe").string();
    double rssForward = 0, rssRun = 0, rssHead = 0;
    std::cout << (qwen ? "Qwen2.5-0.5B-sized" : "random") << " Llama: " << shape.layers << " layers, hidden "
              << shape.hidden << ", " << shape.heads << "/" << shape.kvHeads << " heads, " << tokens << " tokens; weights "
              << fs::file_size(dir + "/model.safetensors") / 1048576 << " MB" << std::endl;
    const std::string f = child(self, {"forward", dir}, &rssForward);
    const std::string r = child(self, {"run", dir}, &rssRun);
    const std::string h = child(self, {"head", dir}, &rssHead);
    const double forwardMs = field(f, "forward_ms"), runMs = field(r, "run_ms"), runWriteMs = field(r, "run_write_ms");
    std::printf("forward without capture      %9.0f ms   peak RSS %6.0f MB\n", forwardMs, rssForward);
    std::printf("run with q/k capture         %9.0f ms   (%.2fx the forward)\n", runMs, runMs / forwardMs);
    std::printf("  + writing the capture      %9.0f ms   (%.2fx the forward; file %.0f MB)   peak RSS %6.0f MB\n",
                runWriteMs, runWriteMs / forwardMs, fs::file_size(dir + "/capture.safetensors") / 1048576.0, rssRun);
    std::printf("head: one whole head (.npy)  %9.0f ms   (%.0f MB file)   peak RSS %6.0f MB\n", field(h, "head_ms"),
                fs::file_size(dir + "/head.npy") / 1048576.0, rssHead);
    std::printf("head: a 1,000-row block      %9.0f ms\n", field(h, "block_ms"));
    double rssGui = 0;
    const std::string g = child(self, {"gui", dir}, &rssGui);
    const double layer0 = forwardMs / shape.layers;
    std::printf("GUI: layer 0 recorded after  %9.0f ms   (the forward's share per layer: %.0f ms)\n",
                field(g, "first_layer_ms"), layer0);
    std::printf("GUI: first heatmap at        %9.0f ms   (target 1.5 x %.0f + 500 = %.0f ms; its tile %.0f ms)\n",
                field(g, "first_heatmap_ms"), layer0, 1.5 * layer0 + 500, field(g, "first_tile_ms"));
    std::printf("GUI: head switch (800 px)    %9.0f ms\n", field(g, "head_switch_ms"));
    std::printf("GUI: zoomed 100 x 100 tile   %9.0f ms\n", field(g, "zoom_tile_ms"));
    if (keep)
      std::cout << "kept " << dir << " (re-run one step: bench_long_input head|gui " << dir << ")\n";
    else
      fs::remove_all(dir);
  } catch (const std::exception& e) {
    std::cerr << "bench_long_input: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
