// The queries/keys capture kind (long inputs): for every golden family, any head computed from stored queries,
// keys and row log-sum-exp equals the probabilities capture (1e-6) and the independent reference (1e-5); the
// chunked forward equals the dense one with every mask; block maxima; the `head` command; the memory budget.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "attention/HeadScores.h"
#include "TestSupport.h"
#include "attnscope/AttentionCapture.h"
#include "attnscope/CaptureFile.h"
#include "attnscope/Engine.h"
#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"
#include "attnscope/MemoryBudget.h"
#include "attnscope/QueryKeyLayer.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

// qk capture vs probabilities capture (the bound).
constexpr double kStoreTol = 1e-6;
constexpr double kGoldenTol = 1e-5;

class QueryKeyGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(QueryKeyGolden, EveryHeadFromQueriesAndKeysEqualsTheProbabilities) {
  const std::string dir = golden(GetParam());
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  CaptureSelection probsSel, qkSel;
  qkSel.kind = CaptureKind::QueryKey;
  RunResult probs = runModel(*model, in, probsSel);
  RunResult qk = runModel(*model, in, qkSel);
  EXPECT_TRUE(qk.capture->records().empty()) << "a qk run keeps no probabilities";
  ASSERT_EQ(qk.capture->queryKeys().size(), probs.capture->records().size());
  // The chunked forward gives the dense forward's outputs.
  for (const char* name : {"last_hidden_state", "logits", "encoder_last_hidden_state"})
    if (probs.outputs.count(name)) EXPECT_LT(maxAbsDiff(qk.outputs.at(name), probs.outputs.at(name)), 1e-5) << name;

  TempDir tmp;
  saveCapture(tmp.file("p.safetensors"), *model, in, probs);
  saveCapture(tmp.file("q.safetensors"), *model, in, qk);
  const auto pf = CaptureFile::open(tmp.file("p.safetensors"));
  const auto qf = CaptureFile::open(tmp.file("q.safetensors"));
  EXPECT_EQ(pf->kind(), CaptureKind::Probabilities);
  ASSERT_EQ(qf->kind(), CaptureKind::QueryKey);
  ASSERT_EQ(qf->stacks(), pf->stacks());
  double worst = 0;
  int heads = 0;
  for (const auto& stack : pf->stacks()) {
    ASSERT_EQ(qf->layers(stack), pf->layers(stack)) << stack;
    for (int l : pf->layers(stack)) {
      const auto [tq, tk] = pf->shape(stack, l);
      ASSERT_EQ(qf->shape(stack, l), pf->shape(stack, l));
      const at::Tensor ref = expected.at(captureTensorName(stack, l));  // [heads, q, k]
      for (int h : pf->heads()) {
        const at::Tensor a = qf->block(stack, l, h, 0, tq, 0, tk);  // [q, k]
        const at::Tensor b = pf->block(stack, l, h, 0, tq, 0, tk);  // [q, k]
        worst = std::max(worst, maxAbsDiff(a, b));
        EXPECT_LT(maxAbsDiff(a, b), kStoreTol) << stack << " L" << l << "H" << h;
        EXPECT_LT(maxAbsDiff(a, ref[h]), kGoldenTol) << stack << " L" << l << "H" << h;
        // A block from the middle equals the same cells of the whole head (up to the float32 rounding of a matrix
        // product of another shape).
        const int64_t r0 = tq / 3, c0 = tk / 4, nr = std::max<int64_t>(1, tq / 2), nc = std::max<int64_t>(1, tk / 2);
        EXPECT_LT(maxAbsDiff(qf->block(stack, l, h, r0, nr, c0, nc), a.narrow(0, r0, nr).narrow(1, c0, nc)), 5e-6);
        ++heads;
      }
    }
  }
  std::cout << "[ qk store ] " << GetParam() << ": " << heads << " heads, max |qk - probs| " << worst << "\n";
  EXPECT_GT(heads, 0);
}

INSTANTIATE_TEST_SUITE_P(Families, QueryKeyGolden,
                         ::testing::Values("bert-tiny-random", "gpt2-tiny-random", "llama-stories260k",
                                           "llama-gqa-random", "vit-tiny-random", "kwt1-audio", "whisper-tiny-random",
                                           "qwen2-tiny-random", "mistral-tiny-random", "gemma-tiny-random",
                                           "gpt_neox-tiny-random", "phi3-tiny-random", "opt-tiny-random",
                                           "roberta-tiny-random", "distilbert-tiny-random", "t5-tiny-random",
                                           "bart-tiny-random", "dinov2-tiny-random", "clip-vision-tiny-random",
                                           "wav2vec2-tiny-random"));

/// Records what the chokepoint hands its hook.
struct Recorder : AttentionHook {
  bool probs = true, qk = false;
  at::Tensor lastProbs;
  QueryKeyLayer layer;
  bool wantsProbabilities(const AttentionSite&) const override { return probs; }
  bool wantsQueryKey(const AttentionSite&) const override { return qk; }
  void onQueryKey(const AttentionSite&, QueryKeyLayer& l) override { layer = l; }
  void onProbabilities(const AttentionSite&, at::Tensor& p, int64_t) override { lastProbs = p; }
};

/// Two query blocks (T = 2500), grouped heads, causal + sliding window + padding + a Toeplitz bias, against a
/// float64 reference: the outputs and the probabilities, and every tile from queries/keys/lse equals the
/// probabilities the same forward keeps.
TEST(ChunkedAttention, MatchesFloat64ReferenceWithEveryMaskAndTilesEqualTheProbabilities) {
  at::manual_seed(7);
  const int64_t T = 2500, d = 16;
  const at::Tensor q = at::randn({4, T, d}) * 2;  // [heads, T, d]
  const at::Tensor k = at::randn({2, T, d}) * 2;  // [kv_heads, T, d]
  const at::Tensor v = at::randn({2, T, d});      // [kv_heads, T, d]
  const at::Tensor diag = at::randn({4, 2 * T - 1});  // [heads, 2T - 1]
  const at::Tensor idx = (at::arange(T).unsqueeze(0) - at::arange(T).unsqueeze(1)) + (T - 1);  // [T, T]
  at::Tensor bias = at::stack({diag[0].take(idx), diag[1].take(idx), diag[2].take(idx), diag[3].take(idx)});  // [4, T, T]
  at::Tensor padding = at::zeros({T}, at::kBool);  // [T]
  padding.narrow(0, 10, 5).fill_(true);
  struct Masks {
    bool causal;
    int64_t window;
    bool bias, padding;
  };
  for (const Masks m : {Masks{false, 0, false, false}, Masks{true, 0, false, false}, Masks{true, 300, false, true},
                        Masks{false, 0, true, true}, Masks{true, 0, true, false}}) {
    AttentionCall call;
    call.scale = 0.25;
    call.causal = m.causal;
    call.slidingWindow = m.window;
    if (m.bias) call.bias = bias;
    if (m.padding) call.keyPaddingMask = padding;
    Recorder probs, qk, none;
    qk.probs = false;
    qk.qk = true;
    none.probs = false;
    call.hook = &probs;
    const at::Tensor outProbs = computeAttention(call, q, k, v);  // [heads, T, d]
    call.hook = &qk;
    const at::Tensor outQk = computeAttention(call, q, k, v);  // [heads, T, d]
    call.hook = &none;
    const at::Tensor outNone = computeAttention(call, q, k, v);  // [heads, T, d]
    const std::string what = "causal " + std::to_string(m.causal) + " window " + std::to_string(m.window) + " bias " +
                             std::to_string(m.bias) + " padding " + std::to_string(m.padding);
    EXPECT_TRUE(outQk.equal(outProbs)) << what << ": the capture kind changes nothing in the forward";
    EXPECT_LT(maxAbsDiff(outNone, outProbs), 1e-5) << what;
    ASSERT_TRUE(qk.layer.queries.defined()) << what;
    EXPECT_FALSE(qk.lastProbs.defined()) << what;
    EXPECT_EQ(qk.layer.biasDiagonals.defined(), m.bias) << what;
    double worstProbs = 0, worstOut = 0;
    for (int h = 0; h < 4; ++h) {
      at::Tensor s64 = at::matmul(q[h].to(at::kDouble) * 0.25, k[h / 2].to(at::kDouble).t());  // [T, T]
      if (m.bias) s64 += bias[h].to(at::kDouble);
      const at::Tensor ii = at::arange(T).unsqueeze(1), jj = at::arange(T).unsqueeze(0);  // [T, 1], [1, T]
      if (m.causal) s64.masked_fill_(jj > ii, -INFINITY);
      if (m.window > 0) s64.masked_fill_(jj <= ii - m.window, -INFINITY);
      if (m.padding) s64.masked_fill_(padding.view({1, T}), -INFINITY);
      const at::Tensor truth = at::softmax(s64, -1);                           // [T, T]
      const at::Tensor truthOut = at::matmul(truth, v[h / 2].to(at::kDouble));  // [T, d]
      // Scores reach |s| ~ 20 here, where one float32 rounding of a score moves its probability by 2e-6 relative.
      worstProbs = std::max(worstProbs, maxAbsDiff(probs.lastProbs[h], truth));
      worstOut = std::max(worstOut, maxAbsDiff(outProbs[h], truthOut));
      // In the forward's row blocks (as `head` streams them) the cells are the forward's own; a block of another
      // shape goes through a matrix product of another shape (float32 rounding of the scores, ~2e-6 here).
      const int64_t block = attnscope::detail::chunkRows(T);
      ASSERT_LT(block, T) << "the test needs two query blocks";
      const at::Tensor full = at::cat({qk.layer.tile(h, 0, block, 0, T), qk.layer.tile(h, block, T - block, 0, T)});  // [T, T]
      EXPECT_LT(maxAbsDiff(full, probs.lastProbs[h]), 1e-6) << what << " head " << h;
      EXPECT_LT(maxAbsDiff(qk.layer.tile(h, 0, T, 0, T), full), 5e-6) << what << " head " << h;
      EXPECT_LT(maxAbsDiff(qk.layer.tile(h, 700, 123, 650, 77), full.narrow(0, 700, 123).narrow(1, 650, 77)), 5e-6)
          << what;
      // Block maxima at "screen resolution" equal the maxima of the blocks.
      const at::Tensor bm = qk.layer.blockMaxima(h, 100, 1100, 0, T, 37, 53);  // [37, 53]
      for (int64_t r : {int64_t(0), int64_t(18), int64_t(36)})
        for (int64_t c : {int64_t(0), int64_t(26), int64_t(52)}) {
          const int64_t r0 = 100 + r * 1000 / 37, r1 = 100 + (r + 1) * 1000 / 37;
          const int64_t c0 = c * T / 53, c1 = (c + 1) * T / 53;
          const float ref = full.narrow(0, r0, r1 - r0).narrow(1, c0, c1 - c0).max().item<float>();
          EXPECT_NEAR(bm[r][c].item<float>(), ref, 5e-6) << what << " block " << r << "," << c;
        }
    }
    EXPECT_LT(worstProbs, 5e-6) << what;
    EXPECT_LT(worstOut, 1e-5) << what;
    std::cout << "[ chunked ] " << what << ": max error vs float64: probabilities " << worstProbs << ", outputs "
              << worstOut << "\n";
  }
}

TEST(ChunkedAttention, IncrementalQueriesAfterACacheEqualDense) {
  at::manual_seed(3);
  const at::Tensor q = at::randn({4, 5, 8});     // [heads, 5, d]
  const at::Tensor k = at::randn({4, 2000, 8});  // [heads, 2000, d]
  const at::Tensor v = at::randn({4, 2000, 8});  // [heads, 2000, d]
  AttentionCall call;
  call.scale = 0.3;
  call.causal = true;
  call.slidingWindow = 700;
  Recorder dense, chunked;
  chunked.probs = false;
  call.hook = &dense;
  const at::Tensor a = computeAttention(call, q, k, v);  // [heads, 5, d]
  call.hook = &chunked;
  const at::Tensor b = computeAttention(call, q, k, v);  // [heads, 5, d]
  EXPECT_LT(maxAbsDiff(a, b), 1e-5);
  EXPECT_FALSE(chunked.lastProbs.defined()) << "the chunked path makes no probabilities";
}

TEST(ChunkedAttention, QueryKeyCaptureRefusesVariantsAndGeneration) {
  auto model = loadModel(golden("llama-gqa-random"), "cpu");
  PreparedInput in = prepareInputsFile(*model, golden("llama-gqa-random") + "/expected.safetensors");
  CaptureSelection sel;
  sel.kind = CaptureKind::QueryKey;
  auto topk = makeVariant("topk:k=4");
  topk->prepare(*model, in);
  try {
    runModel(*model, in, sel, nullptr, topk.get());
    FAIL() << "top-k attention stored as queries and keys";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("store probabilities"), std::string::npos) << e.what();
  }
  EXPECT_THROW(generate(*model, in, 2, sel), InputError);
}

TEST(ToeplitzDiagonals, RecoversARelativeBiasAndRefusesOthers) {
  at::manual_seed(1);
  const at::Tensor diag = at::randn({2, 5 + 7 - 1});                                    // [heads, q + k - 1]
  const at::Tensor idx = (at::arange(7).unsqueeze(0) - at::arange(5).unsqueeze(1)) + 4;  // [q, k]
  const at::Tensor bias = at::stack({diag[0].take(idx), diag[1].take(idx)});            // [2, 5, 7]
  EXPECT_TRUE(toeplitzDiagonals(bias).equal(diag));
  at::Tensor other = bias.clone();
  other[1][3][2] += 1;
  EXPECT_FALSE(toeplitzDiagonals(other).defined());
}

// ---------------------------------------------------------------------------------------------------------------
// The CLI: --store, the head command, the memory budget.

const std::string kCli = ATTNSCOPE_CLI_PATH;

/// Reads a float32 .npy file written by `head`.
at::Tensor readNpy(const std::string& path) {
  const std::string bytes = slurp(path);
  EXPECT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), std::string("\x93NUMPY", 6));
  const size_t headerLen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + headerLen) % 64, 0u) << "NPY headers are 64-byte aligned";
  const std::string header = bytes.substr(10, headerLen);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  const size_t open = header.find("'shape': (");
  int64_t rows = 0, cols = 0;
  std::sscanf(header.c_str() + open + 10, "%ld, %ld", &rows, &cols);
  EXPECT_EQ(bytes.size(), 10 + headerLen + static_cast<size_t>(rows * cols * 4));
  at::Tensor t = at::empty({rows, cols});
  std::memcpy(t.data_ptr<float>(), bytes.data() + 10 + headerLen, static_cast<size_t>(rows * cols * 4));
  return t;
}

TEST(HeadCommand, MaterialisesAHeadOrABlockFromEitherKind) {
  TempDir tmp;
  const std::string dir = golden("gpt2-tiny-random");
  const std::string inputs = dir + "/expected.safetensors";
  for (const char* store : {"probs", "qk"}) {
    const auto r = runCommand(kCli + " run --model " + dir + " --inputs " + inputs + " --store " + store + " --out " +
                              tmp.file(std::string(store) + ".safetensors"));
    ASSERT_EQ(r.status, 0) << r.output;
  }
  auto expected = readAll(inputs);
  const at::Tensor ref = expected.at("attentions.1");  // [heads, q, k]
  for (const char* store : {"probs", "qk"}) {
    const std::string cap = tmp.file(std::string(store) + ".safetensors");
    auto r = runCommand(kCli + " head --capture " + cap + " --layer 1 --head 2 --out " + tmp.file("h.npy"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_LT(maxAbsDiff(readNpy(tmp.file("h.npy")), ref[2]), kGoldenTol) << store;
    r = runCommand(kCli + " head --capture " + cap + " --layer 1 --head 2 --rows 3-6 --cols 1-4 --out " +
                   tmp.file("b.safetensors"));
    ASSERT_EQ(r.status, 0) << r.output;
    auto block = readAll(tmp.file("b.safetensors"));
    ASSERT_EQ(block.at("attention").sizes(), (std::vector<int64_t>{4, 4}));
    EXPECT_LT(maxAbsDiff(block.at("attention"), ref[2].narrow(0, 3, 4).narrow(1, 1, 4)), kGoldenTol) << store;
  }
  // A block that sees no key at all (causal: queries 0-1, keys 5-9) is zeros, from either kind.
  for (const char* store : {"probs", "qk"}) {
    const auto r = runCommand(kCli + " head --capture " + tmp.file(std::string(store) + ".safetensors") +
                              " --layer 0 --head 1 --rows 0-1 --cols 5-9 --out " + tmp.file("z.npy"));
    ASSERT_EQ(r.status, 0) << r.output;
    const at::Tensor z = readNpy(tmp.file("z.npy"));
    ASSERT_EQ(z.sizes(), (std::vector<int64_t>{2, 5}));
    EXPECT_EQ(z.abs().max().item<float>(), 0.0f) << store;
  }
  // Errors exit 2, name what is wrong, and write nothing.
  const std::string cap = tmp.file("qk.safetensors");
  for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
           {"--layer 7 --head 0", "layer 7"},
           {"--layer 0 --head 99", "head 99"},
           {"--layer 0 --head 0 --rows 5-500", "outside"},
           {"--layer 0 --head 0 --cols 4-2", "reversed"},
           {"--layer 0 --head 0 --stack cross", "no stack 'cross'"}}) {
    const auto r = runCommand(kCli + " head --capture " + cap + " " + args + " --out " + tmp.file("bad.npy"));
    EXPECT_EQ(r.status, 2) << args << ": " << r.output;
    EXPECT_NE(r.output.find(says), std::string::npos) << args << ": " << r.output;
    EXPECT_FALSE(fs::exists(tmp.file("bad.npy"))) << args;
  }
  const auto r = runCommand(kCli + " head --capture " + cap + " --layer 0 --head 0 --out " + tmp.file("h.csv"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(".npy or .safetensors"), std::string::npos) << r.output;
}

/// A 4,096-token model: the golden GQA Llama (RoPE, no learned positions) with its position limit raised.
std::string longLlama(const TempDir& tmp) {
  const std::string src = golden("llama-gqa-random"), dir = tmp.file("long-llama");
  fs::create_directories(dir);
  fs::copy_file(src + "/model.safetensors", dir + "/model.safetensors");
  std::ifstream f(src + "/config.json");
  nlohmann::json config = nlohmann::json::parse(f);
  config["max_position_embeddings"] = 8192;
  std::ofstream(dir + "/config.json") << config.dump(2);
  // input_ids [1, 4096]
  at::manual_seed(11);
  SafetensorsWriter w;
  w.add("input_ids", at::randint(3, 500, {1, 4096}, at::kLong));
  w.write(dir + "/inputs.safetensors");
  return dir;
}

TEST(MemoryBudget, AutoStoresQueriesAndKeysWhenProbabilitiesCannotFitAndForcedProbabilitiesAreRefused) {
  TempDir tmp;
  const std::string dir = longLlama(tmp);
  // Probabilities: 2 layers x 6 heads x 4096² x 4 bytes = 768 MiB; queries and keys: a few MB.
  const std::string run = kCli + " run --model " + dir + " --inputs " + dir + "/inputs.safetensors ";
  auto r = runCommand(run + "--memory-budget 300M --out " + tmp.file("auto.safetensors"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("store: queries and keys"), std::string::npos) << r.output;
  auto f = CaptureFile::open(tmp.file("auto.safetensors"));
  EXPECT_EQ(f->kind(), CaptureKind::QueryKey);
  EXPECT_EQ(f->shape("self", 1), (std::pair<int64_t, int64_t>{4096, 4096}));
  // Rows sum to one and the causal upper triangle is empty, for the last of the forward's row blocks (1,024 rows of
  // 4,096 keys), where the recomputed cells are the forward's own.
  ASSERT_EQ(attnscope::detail::chunkRows(4096), 1024);
  const at::Tensor b = f->block("self", 1, 5, 3072, 1024, 0, 4096);  // [1024, 4096]
  EXPECT_LT((b.sum(1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(b.narrow(1, 3072, 1024).triu(1).abs().max().item<float>(), 0.0f);
  // `head` streams the whole head in blocks of ~4 MB (256 rows here): the same cells as one 1,024-row tile (OpenBLAS
  // may round a row's dot products differently in a GEMM of another height: ~1e-10 here); --fsync (flushed before
  // the rename) writes the same bytes.
  r = runCommand(kCli + " head --capture " + tmp.file("auto.safetensors") + " --layer 1 --head 5 --out " +
                 tmp.file("whole.npy"));
  ASSERT_EQ(r.status, 0) << r.output;
  const at::Tensor whole = readNpy(tmp.file("whole.npy"));  // [4096, 4096]
  ASSERT_EQ(whole.sizes(), (std::vector<int64_t>{4096, 4096}));
  EXPECT_LT(maxAbsDiff(whole.narrow(0, 3072, 1024), b), kStoreTol);
  EXPECT_LT(maxAbsDiff(whole.narrow(0, 0, 1000), f->block("self", 1, 5, 0, 1000, 0, 4096)), kStoreTol);
  EXPECT_LT((whole.sum(1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(whole.triu(1).abs().max().item<float>(), 0.0f);
  r = runCommand(kCli + " head --capture " + tmp.file("auto.safetensors") + " --layer 1 --head 5 --fsync --out " +
                 tmp.file("synced.npy"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(slurp(tmp.file("synced.npy")), slurp(tmp.file("whole.npy")));

  r = runCommand(run + "--memory-budget 300M --store probs --out " + tmp.file("probs.safetensors"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("GB"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("memory budget is 0.29 GB"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp.file("probs.safetensors")));

  // With room, auto keeps probabilities, and they equal the qk capture's cells.
  // (Every layer is captured, as in the qk run: a layer that is not captured computes its softmax the usual way, so
  // the layers after it would see hidden states that differ by float32 rounding.)
  r = runCommand(run + "--memory-budget 4G --heads 5 --out " + tmp.file("p.safetensors"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("store: probabilities"), std::string::npos) << r.output;
  auto p = CaptureFile::open(tmp.file("p.safetensors"));
  EXPECT_LT(maxAbsDiff(p->block("self", 1, 5, 3072, 1024, 0, 4096), b), kStoreTol);
}

TEST(MemoryBudget, UnderUlimitAutoChoosesQueriesAndKeysAndForcedProbabilitiesExit2) {
  TempDir tmp;
  const std::string dir = longLlama(tmp);
  // The process's own address space (LibTorch, OpenBLAS threads) comes first: measure it with a small run.
  const std::string run = kCli + " run --model " + dir + " --inputs " + dir + "/inputs.safetensors ";
  int64_t limitKb = 0;
  for (int64_t kb = 1 << 20; kb <= (int64_t(16) << 20); kb += 512 << 10) {
    const auto probe = runCommand("ulimit -v " + std::to_string(kb) + "; " + run + "--store qk --out " + tmp.file("probe.safetensors"));
    if (probe.status == 0) {
      limitKb = kb + (256 << 10);  // room for queries and keys, not for 768 MiB of probabilities
      break;
    }
  }
  ASSERT_GT(limitKb, 0) << "the qk run did not fit under any ulimit -v up to 16 GB";
  auto r = runCommand("ulimit -v " + std::to_string(limitKb) + "; " + run + "--out " + tmp.file("auto.safetensors"));
  ASSERT_EQ(r.status, 0) << "ulimit -v " << limitKb << ": " << r.output;
  EXPECT_NE(r.output.find("store: queries and keys"), std::string::npos) << r.output;
  EXPECT_EQ(CaptureFile::open(tmp.file("auto.safetensors"))->kind(), CaptureKind::QueryKey);
  r = runCommand("ulimit -v " + std::to_string(limitKb) + "; " + run + "--store probs --out " + tmp.file("p.safetensors"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(" GB"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp.file("p.safetensors")));
  // The analyses that keep every layer's attention (about 2 GB here) are refused before the forward, with the numbers.
  const std::string inputs = " --model " + dir + " --inputs " + dir + "/inputs.safetensors ";
  for (const std::string& analysis : {"flow-graph" + inputs, "attribute --method alti" + inputs}) {
    r = runCommand("ulimit -v " + std::to_string(limitKb) + "; " + kCli + " " + analysis + "--out " +
                   tmp.file("a.json"));
    EXPECT_EQ(r.status, 2) << analysis << ": " << r.output;
    EXPECT_NE(r.output.find("4096 positions needs about"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp.file("a.json")));
  }
}

TEST(MemoryBudget, SizesParseAndEstimatesScale) {
  EXPECT_EQ(parseMemorySize("8G", "--memory-budget"), int64_t(8) << 30);
  EXPECT_EQ(parseMemorySize("512MB", "--memory-budget"), int64_t(512) << 20);
  EXPECT_EQ(parseMemorySize("1.5GiB", "--memory-budget"), int64_t(3) << 29);
  EXPECT_EQ(parseMemorySize("1000", "--memory-budget"), 1000);
  for (const char* bad : {"", "G", "-1G", "lots", "1e30"}) EXPECT_THROW(parseMemorySize(bad, "--memory-budget"), InputError) << bad;
  EXPECT_GT(availableMemory(), int64_t(64) << 20);
  EXPECT_EQ(formatGigabytes(int64_t(3) << 29), "1.50 GB");

  auto model = loadModel(golden("llama-gqa-random"), "cpu");
  PreparedInput in = prepareInputsFile(*model, golden("llama-gqa-random") + "/expected.safetensors");
  CaptureSelection probs, qk;
  qk.kind = CaptureKind::QueryKey;
  const MemoryEstimate ep = estimateRun(*model, in, probs), eq = estimateRun(*model, in, qk);
  const int64_t T = static_cast<int64_t>(in.labels.size());
  EXPECT_EQ(ep.store, 2 * 6 * T * T * 4) << "layers x heads x T x T floats";
  EXPECT_EQ(eq.store, 2 * ((6 * T * 8 + 2 * T * 8) * 4 + 6 * T * 8)) << "float32 queries and keys, float64 lse";
  EXPECT_EQ(ep.weights, model->model->info().parameters * 4);
  EXPECT_THROW(checkFits(ep, CaptureKind::Probabilities, ep.total() - 1, "test"), OutOfMemoryError);
  EXPECT_NO_THROW(checkFits(ep, CaptureKind::Probabilities, ep.total(), "test"));
  // "auto": probabilities exactly while the run with them fits (with the copies the caller keeps), else queries and
  // keys; a variant keeps probabilities whatever the budget.
  EXPECT_EQ(autoStoreKind(ep, ep.total(), true), CaptureKind::Probabilities);
  EXPECT_EQ(autoStoreKind(ep, ep.total() - 1, true), CaptureKind::QueryKey);
  EXPECT_EQ(autoStoreKind(ep, ep.total() + ep.store, true, 1), CaptureKind::Probabilities);
  EXPECT_EQ(autoStoreKind(ep, ep.total() + ep.store - 1, true, 1), CaptureKind::QueryKey);
  EXPECT_EQ(autoStoreKind(ep, 0, false), CaptureKind::Probabilities);
}

/// Aggregates of one query row (what long inputs get instead of [q, k] matrices): row q of mean / max over heads and
/// of rollout up to each layer, computed as a row vector times one layer's matrix at a time, equal the rows of the
/// whole matrices from a probabilities capture — on the probabilities capture itself and on the same run kept as
/// queries and keys (causal GQA Llama, bidirectional BERT with padding-free text, T5's encoder with its bias).
TEST(AggregateRow, EqualsTheRowOfTheWholeAggregateFromEitherCapture) {
  for (const auto& [name, stack] : std::vector<std::pair<std::string, std::string>>{
           {"llama-gqa-random", "self"}, {"bert-tiny-random", "self"}, {"t5-tiny-random", "encoder"}}) {
    const auto [probs, qk] = runBothStores(name);
    ASSERT_TRUE(qk.onDemand());
    int layers = 0;
    for (const auto& a : probs.layers)
      if (a.stack == stack) layers = std::max(layers, a.layer + 1);
    ASSERT_GT(layers, 1) << name;
    int checked = 0;
    for (const std::string kind : {"mean", "max", "rollout"})
      for (int layer = 0; layer < layers; ++layer) {
        int rows = 0, cols = 0;
        const std::vector<float> whole = aggregateAttention(probs, stack, layer, kind, &rows, &cols);
        for (int q : {0, rows / 2, rows - 1}) {
          const std::vector<float> a = aggregateRow(probs, stack, layer, kind, q);
          const std::vector<float> b = aggregateRow(qk, stack, layer, kind, q);
          ASSERT_EQ(static_cast<int>(a.size()), cols);
          ASSERT_EQ(static_cast<int>(b.size()), cols);
          double da = 0, db = 0, sum = 0;
          for (int j = 0; j < cols; ++j) {
            const double w = whole[static_cast<size_t>(q) * cols + j];
            da = std::max(da, std::abs(a[j] - w));
            db = std::max(db, std::abs(b[j] - w));
            sum += b[j];
          }
          EXPECT_LT(da, 1e-6) << name << " " << kind << " L" << layer << " q" << q;
          EXPECT_LT(db, 1e-6) << name << " " << kind << " L" << layer << " q" << q;
          if (kind != "max") EXPECT_NEAR(sum, 1.0, 1e-5) << name << " " << kind << " rows sum to 1";
          ++checked;
        }
      }
    EXPECT_EQ(checked, 3 * layers * 3) << name;
    EXPECT_THROW(aggregateRow(qk, stack, 0, "median", 0), InputError);
    EXPECT_THROW(aggregateRow(qk, stack, 0, "mean", 1 << 20), InputError);
    EXPECT_THROW(aggregateRow(qk, stack, layers, "rollout", 0), InputError);
  }
}

/// A run hands its first recorded layer to the caller before the forward ends (what lets the GUI draw the first
/// heatmap early): the first partial capture holds layer 0 only, marked partial, with the final labels, and its cells
/// — probabilities, or queries and keys computed on demand — equal the finished run's.
TEST(PartialCapture, FirstLayerArrivesBeforeTheRunEndsWithTheFinalCells) {
  const std::string dir = golden("llama-gqa-random");
  auto session = EngineSession::open(dir, "cpu");
  for (const std::string store : {"probs", "qk"}) {
    RunRequest request;
    request.inputsPath = dir + "/expected.safetensors";
    request.store = store;
    std::vector<std::shared_ptr<const CaptureResult>> partials;
    int progressAtFirst = -1, lastProgress = 0;
    const CaptureResult done = session->run(
        request, [&](int d, int) { lastProgress = d; }, {},
        [&](std::shared_ptr<const CaptureResult> p) {
          if (partials.empty()) progressAtFirst = lastProgress;
          partials.push_back(std::move(p));
        });
    ASSERT_FALSE(partials.empty()) << store;
    const CaptureResult& first = *partials.front();
    EXPECT_TRUE(first.partial);
    EXPECT_FALSE(done.partial);
    // Right after layer 0 (progress counts a layer once its attention is done: 0 or 1 by then), before layer 1.
    EXPECT_GE(progressAtFirst, 0) << store;
    EXPECT_LE(progressAtFirst, 1) << store;
    EXPECT_EQ(lastProgress, 2) << store;
    ASSERT_EQ(first.layers.size(), 1u) << store;
    EXPECT_EQ(first.layers[0].layer, 0);
    EXPECT_EQ(first.stackQueryLabels, done.stackQueryLabels);
    EXPECT_EQ(first.onDemand(), store == "qk");
    const AttentionMatrix& a = first.layers[0];
    const AttentionMatrix* b = done.find(a.stack, 0);
    ASSERT_TRUE(b);
    ASSERT_EQ(a.q, b->q);
    ASSERT_EQ(a.k, b->k);
    if (store == "probs") {
      EXPECT_EQ(a.data, b->data);
    } else {
      for (int h = 0; h < a.heads; ++h)
        EXPECT_EQ(first.source->cells(a.stack, 0, h, 0, a.q, 0, a.k), done.source->cells(b->stack, 0, h, 0, b->q, 0, b->k));
    }
  }
}

}  // namespace
