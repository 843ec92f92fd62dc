// train_demo: trains AttnScope's built-in demo model — a 2-layer GPT-2-style transformer on sequence copying —
// and writes it as a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt).
// Task: 16 distinct random letters, then the same 16 again; the loss is on the second half. The model is
// attention-only (its MLP weights are zero and frozen) with strong position embeddings, so the solution has to be an
// attention pattern: it learns a copy head that looks 15 positions back, to the letter that followed the current
// one the first time — one crisp diagonal that newcomers see at once (the shipped model: layer 0, head 0, weight
// 1.00 on p-15; copy accuracy 1.0 on held-out sequences).
// Deterministic: fixed seeds, one thread.  usage: train_demo OUT_DIR [--steps N]
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "attnscope/SafetensorsFile.h"

namespace {

constexpr int64_t kVocab = 256, kPositions = 64, kEmbd = 64, kLayers = 2, kHeads = 4, kHalf = 16;

struct Params {
  std::map<std::string, torch::Tensor> t;  // HF GPT-2 names
  torch::Tensor& operator[](const std::string& n) { return t.at(n); }
};

Params init(uint64_t seed) {
  torch::manual_seed(seed);
  Params p;
  auto normal = [](std::vector<int64_t> shape, double std) { return (torch::randn(shape) * std).requires_grad_(); };
  auto ones = [](int64_t n) { return torch::ones({n}).requires_grad_(); };
  auto zeros = [](int64_t n) { return torch::zeros({n}).requires_grad_(); };
  p.t["transformer.wte.weight"] = normal({kVocab, kEmbd}, 0.02);
  p.t["transformer.wpe.weight"] = normal({kPositions, kEmbd}, 0.1);  // strong positions: the copy is positional
  for (int l = 0; l < kLayers; ++l) {
    const std::string b = "transformer.h." + std::to_string(l) + ".";
    p.t[b + "ln_1.weight"] = ones(kEmbd);
    p.t[b + "ln_1.bias"] = zeros(kEmbd);
    p.t[b + "attn.c_attn.weight"] = normal({kEmbd, 3 * kEmbd}, 0.02);  // Conv1D: [in, out]
    p.t[b + "attn.c_attn.bias"] = zeros(3 * kEmbd);
    p.t[b + "attn.c_proj.weight"] = normal({kEmbd, kEmbd}, 0.02);
    p.t[b + "attn.c_proj.bias"] = zeros(kEmbd);
    p.t[b + "ln_2.weight"] = ones(kEmbd);
    p.t[b + "ln_2.bias"] = zeros(kEmbd);
    // Attention-only: the MLP weights exist (the gpt2 layout needs them) but are zero and not trained, so the
    // whole computation has to happen in the attention patterns the demo is meant to show.
    p.t[b + "mlp.c_fc.weight"] = torch::zeros({kEmbd, 4 * kEmbd});
    p.t[b + "mlp.c_fc.bias"] = torch::zeros({4 * kEmbd});
    p.t[b + "mlp.c_proj.weight"] = torch::zeros({4 * kEmbd, kEmbd});
    p.t[b + "mlp.c_proj.bias"] = torch::zeros({kEmbd});
  }
  p.t["transformer.ln_f.weight"] = ones(kEmbd);
  p.t["transformer.ln_f.bias"] = zeros(kEmbd);
  return p;
}

/// GPT-2 forward (the same math as core's gpt2 family), batched: ids [B, T] -> logits [B, T, V].
torch::Tensor forward(Params& p, const torch::Tensor& ids) {
  const int64_t B = ids.size(0), T = ids.size(1), d = kEmbd / kHeads;
  torch::Tensor h = p["transformer.wte.weight"].index_select(0, ids.flatten()).view({B, T, kEmbd}) +
                    p["transformer.wpe.weight"].narrow(0, 0, T);  // [B, T, E]
  const torch::Tensor future = torch::ones({T, T}, torch::kBool).triu(1);  // [T, T]
  for (int l = 0; l < kLayers; ++l) {
    const std::string b = "transformer.h." + std::to_string(l) + ".";
    const torch::Tensor x = torch::layer_norm(h, {kEmbd}, p[b + "ln_1.weight"], p[b + "ln_1.bias"], 1e-5);
    const torch::Tensor qkv = torch::matmul(x, p[b + "attn.c_attn.weight"]) + p[b + "attn.c_attn.bias"];  // [B, T, 3E]
    auto heads = [&](int i) { return qkv.narrow(2, i * kEmbd, kEmbd).view({B, T, kHeads, d}).transpose(1, 2); };
    torch::Tensor s = torch::matmul(heads(0), heads(1).transpose(-1, -2)) / std::sqrt(static_cast<double>(d));  // [B, H, T, T]
    s = s.masked_fill(future, -INFINITY);
    const torch::Tensor ctx = torch::matmul(torch::softmax(s, -1), heads(2)).transpose(1, 2).reshape({B, T, kEmbd});
    h = h + torch::matmul(ctx, p[b + "attn.c_proj.weight"]) + p[b + "attn.c_proj.bias"];
    const torch::Tensor y = torch::layer_norm(h, {kEmbd}, p[b + "ln_2.weight"], p[b + "ln_2.bias"], 1e-5);
    const torch::Tensor f = torch::gelu(torch::matmul(y, p[b + "mlp.c_fc.weight"]) + p[b + "mlp.c_fc.bias"], "tanh");
    h = h + torch::matmul(f, p[b + "mlp.c_proj.weight"]) + p[b + "mlp.c_proj.bias"];
  }
  h = torch::layer_norm(h, {kEmbd}, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"], 1e-5);
  return torch::matmul(h, p["transformer.wte.weight"].t());  // [B, T, V] (tied head)
}

/// A batch of copy sequences: 16 distinct letters a-z, then the same 16. [B, 32] byte ids.
torch::Tensor batch(std::mt19937_64& rng, int64_t B) {
  std::vector<int64_t> ids;
  std::vector<int64_t> letters(26);
  for (int i = 0; i < 26; ++i) letters[i] = 'a' + i;
  for (int64_t b = 0; b < B; ++b) {
    for (int i = 0; i < kHalf; ++i) std::swap(letters[i], letters[i + rng() % (26 - i)]);
    for (int r = 0; r < 2; ++r)
      for (int i = 0; i < kHalf; ++i) ids.push_back(letters[i]);
  }
  return torch::tensor(ids, torch::kLong).view({B, 2 * kHalf});
}

/// Loss and accuracy on the predictable positions (second half, after its first token).
std::pair<torch::Tensor, double> lossOn(Params& p, const torch::Tensor& ids) {
  const torch::Tensor logits = forward(p, ids);                                            // [B, T, V]
  const torch::Tensor pred = logits.narrow(1, kHalf, kHalf - 1).reshape({-1, kVocab});    // predicts ids[16+1 ..]
  const torch::Tensor target = ids.narrow(1, kHalf + 1, kHalf - 1).reshape({-1});
  const double acc = pred.argmax(-1).eq(target).to(torch::kDouble).mean().item<double>();
  return {torch::cross_entropy_loss(pred, target), acc};
}

/// GPT-2's byte <-> unicode table (printable bytes map to themselves).
std::vector<std::string> byteUnicode() {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int> cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) bs.push_back(b), cs.push_back(256 + n++);
  std::vector<std::string> out(256);
  for (size_t i = 0; i < bs.size(); ++i) {
    const int c = cs[i];
    std::string u;
    if (c < 0x80) u += static_cast<char>(c);
    else u += static_cast<char>(0xC0 | (c >> 6)), u += static_cast<char>(0x80 | (c & 0x3F));
    out[bs[i]] = u;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: train_demo OUT_DIR [--steps N]\n");
    return 2;
  }
  const std::string out = argv[1];
  int steps = 6000;
  for (int i = 2; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--steps") steps = std::stoi(argv[i + 1]);
  torch::set_num_threads(1);  // deterministic
  Params p = init(20261121);
  std::vector<torch::Tensor> all;
  for (auto& kv : p.t)
    if (kv.second.requires_grad()) all.push_back(kv.second);
  torch::optim::Adam opt(all, torch::optim::AdamOptions(3e-3));
  std::mt19937_64 rng(7);
  for (int step = 1; step <= steps; ++step) {
    // 3e-3 for the first 40 % of the steps (the circuit forms), then linear decay to 1e-4 (it sharpens).
    const double warm = 0.4 * steps, lr = step < warm ? 3e-3 : 3e-3 - (3e-3 - 1e-4) * (step - warm) / (steps - warm);
    static_cast<torch::optim::AdamOptions&>(opt.param_groups()[0].options()).lr(lr);
    auto [loss, acc] = lossOn(p, batch(rng, 64));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 250 == 0 || step == 1) {
      std::printf("step %5d  lr %.5f  loss %.4f  accuracy %.3f\n", step, lr, loss.item<double>(), acc);
      std::fflush(stdout);
    }
  }
  std::mt19937_64 evalRng(99);
  double acc = 0;
  {
    torch::NoGradGuard ng;
    acc = lossOn(p, batch(evalRng, 512)).second;
  }
  std::printf("held-out accuracy on the copied half: %.4f\n", acc);

  std::filesystem::create_directories(out);
  attnscope::SafetensorsWriter w;
  for (auto& [name, t] : p.t) w.add(name, t.detach().contiguous());
  w.setMetadata("format", "pt");
  w.write(out + "/model.safetensors");
  const nlohmann::json config = {
      {"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", kVocab},
      {"n_positions", kPositions}, {"n_embd", kEmbd}, {"n_layer", kLayers}, {"n_head", kHeads},
      {"activation_function", "gelu_new"}, {"layer_norm_epsilon", 1e-5}, {"tie_word_embeddings", true},
      {"torch_dtype", "float32"},
      {"attnscope_note", "Locally trained demo: a 2-layer transformer trained by sample_models/TrainDemo.cpp to copy a "
                         "sequence of 16 letters (held-out accuracy " + std::to_string(acc).substr(0, 6) +
                         "). A copy head attends from each copied letter back to the letter that followed it the first time, "
                         "15 positions earlier: find it in the overview."}};
  std::ofstream(out + "/config.json") << config.dump(2) << "\n";
  nlohmann::json vocab = nlohmann::json::object();
  const auto table = byteUnicode();
  for (int b = 0; b < 256; ++b) vocab[table[b]] = b;
  std::ofstream(out + "/vocab.json") << vocab.dump() << "\n";
  std::ofstream(out + "/merges.txt") << "#version: 0.2\n";
  std::printf("wrote %s\n", out.c_str());
  return acc > 0.95 ? 0 : 1;
}
