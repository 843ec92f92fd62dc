// Attention variants: structural properties on random inputs, hand-computed metrics, end-to-end behaviour
// on the real stories260K checkpoint, and clear errors for bad specs.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <set>

#include "TestSupport.h"
#include "attnscope/Compare.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Variant.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

struct Attended {
  at::Tensor out;    // [heads, q, d]
  at::Tensor probs;  // [heads, q, k]
};

Attended attend(const std::string& spec, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                bool causal = false) {
  auto variant = spec.empty() ? nullptr : makeVariant(spec);
  AttentionCapture capture;
  AttentionCall call;
  call.site = {"self", 0};
  call.scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  call.causal = causal;
  call.hook = &capture;
  call.variant = variant.get();
  Attended a;
  a.out = computeAttention(call, q, k, v);
  a.probs = capture.get("self", 0);
  return a;
}

struct Qkv {
  at::Tensor q, k, v;
};
Qkv randomQkv(int64_t heads, int64_t t, int64_t d, uint64_t seed = 1) {
  at::manual_seed(seed);
  return {at::randn({heads, t, d}) * 2, at::randn({heads, t, d}) * 2, at::randn({heads, t, d})};
}

/// Reference: softmax over the allowed keys only, computed directly.
at::Tensor referenceMasked(const Qkv& x, const at::Tensor& allowed /*[q,k] bool*/) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(x.q.size(2)));
  at::Tensor s = at::matmul(x.q, x.k.transpose(1, 2)) * scale;  // [heads, q, k]
  s = s.masked_fill(allowed.logical_not(), -INFINITY);
  return at::softmax(s, -1);
}

TEST(Variants, WindowRowsAreZeroOutsideTheBandAndMatchADenseReference) {
  const Qkv x = randomQkv(3, 200, 16);  // 200 keys, w = 8: the chunked sparse path runs
  for (bool causal : {false, true}) {
    Attended a = attend("window:w=8", x.q, x.k, x.v, causal);
    at::Tensor allowed = at::zeros({200, 200}, at::kBool);
    for (int i = 0; i < 200; ++i)
      for (int j = 0; j < 200; ++j) allowed[i][j] = causal ? (j <= i && j > i - 8) : std::abs(i - j) <= 8;
    EXPECT_EQ(a.probs.masked_select(allowed.logical_not().expand_as(a.probs)).abs().max().item<float>(), 0.0f);
    const at::Tensor ref = referenceMasked(x, allowed);  // [heads, q, k]
    EXPECT_LT(maxAbsDiff(a.probs, ref), 1e-6) << "causal=" << causal;
    EXPECT_LT(maxAbsDiff(a.out, at::matmul(ref, x.v)), 1e-5) << "causal=" << causal;
    EXPECT_LT(maxAbsDiff(a.probs.sum(-1), at::ones({3, 200})), 1e-5);
  }
  // The `causal` flag makes a bidirectional model one-sided.
  Attended c = attend("window:w=8,causal", x.q, x.k, x.v, false);
  EXPECT_EQ(c.probs[0][100].slice(0, 101).abs().max().item<float>(), 0.0f);
  EXPECT_EQ((c.probs[0][100].gt(0)).sum().item<int64_t>(), 8);
}

TEST(Variants, SinkKeepsTheFirstNAndTheLastWKeysAndMatchesADenseReference) {
  const Qkv x = randomQkv(3, 120, 16);
  for (bool causal : {true, false}) {
    Attended a = attend("sink:n=4,w=16", x.q, x.k, x.v, causal);
    at::Tensor allowed = at::zeros({120, 120}, at::kBool);
    for (int i = 0; i < 120; ++i)
      for (int j = 0; j < 120; ++j)
        allowed[i][j] = causal ? j <= i && (j < 4 || j > i - 16) : j < 4 || std::abs(i - j) < 16;
    EXPECT_EQ(a.probs.masked_select(allowed.logical_not().expand_as(a.probs)).abs().max().item<float>(), 0.0f);
    const at::Tensor ref = referenceMasked(x, allowed);  // [heads, q, k]
    EXPECT_LT(maxAbsDiff(a.probs, ref), 1e-6) << "causal=" << causal;
    EXPECT_LT(maxAbsDiff(a.out, at::matmul(ref, x.v)), 1e-5) << "causal=" << causal;
    if (!causal) continue;
    // Causal rows keep exactly n + w keys once they are past the first n + w (all of theirs before that).
    for (int h = 0; h < 3; ++h)
      for (int i = 0; i < 120; ++i)
        ASSERT_EQ(a.probs[h][i].gt(0).sum().item<int64_t>(), std::min(i + 1, 4 + 16)) << "row " << i;
  }
}

TEST(Variants, BlockPatternIsExactlyOwnBlockGlobalsAndTheRandomBlocks) {
  const Qkv x = randomQkv(2, 96, 8);  // 12 blocks of 8
  Attended a = attend("block:size=8,global=2,random=1,seed=5", x.q, x.k, x.v);
  const at::Tensor nz = a.probs[0].gt(0);  // [q, k]
  EXPECT_TRUE(nz.equal(a.probs[1].gt(0))) << "the pattern is shared by the heads";
  for (int i = 0; i < 96; ++i) {
    const at::Tensor row = nz[i];
    if (i < 2) {
      EXPECT_EQ(row.sum().item<int64_t>(), 96) << "global query " << i << " sees every key";
      continue;
    }
    const int own = i / 8;
    std::set<int> other;
    for (int j = 0; j < 96; ++j) {
      const bool on = row[j].item<bool>();
      if (j < 2 || j / 8 == own) {
        EXPECT_TRUE(on) << "row " << i << " key " << j << " (own block / global) must be attended";
      } else if (on) {
        other.insert(j / 8);
      }
    }
    ASSERT_EQ(other.size(), 1u) << "row " << i << ": exactly one random block";
    const int rb = *other.begin();
    for (int j = rb * 8; j < rb * 8 + 8; ++j) EXPECT_TRUE(row[j].item<bool>()) << "the random block is whole";
  }
  // All rows of one query block share their random block; seeded: reproducible; another seed differs.
  Attended again = attend("block:size=8,global=2,random=1,seed=5", x.q, x.k, x.v);
  EXPECT_TRUE(again.probs.equal(a.probs));
  Attended other = attend("block:size=8,global=2,random=1,seed=6", x.q, x.k, x.v);
  EXPECT_FALSE(other.probs.gt(0).equal(a.probs.gt(0)));
  // Against the dense reference with the same pattern.
  EXPECT_LT(maxAbsDiff(a.probs, referenceMasked(x, nz)), 1e-6);
  EXPECT_LT(maxAbsDiff(a.out, at::matmul(referenceMasked(x, nz), x.v)), 1e-5);
}

TEST(Variants, TopKRowsHaveExactlyKNonZeros) {
  const Qkv x = randomQkv(4, 40, 8);
  Attended a = attend("topk:k=5", x.q, x.k, x.v);
  EXPECT_TRUE(a.probs.gt(0).sum(-1).eq(5).all().item<bool>());
  EXPECT_LT(maxAbsDiff(a.probs.sum(-1), at::ones({4, 40})), 1e-5);
  // The kept keys are the 5 largest logits of the full row.
  Attended full = attend("", x.q, x.k, x.v);
  const at::Tensor top = std::get<1>(full.probs.topk(5, -1));  // [heads, q, 5]
  EXPECT_TRUE(a.probs.gather(2, top).gt(0).all().item<bool>());
  // Causal rows with fewer than k visible keys keep them all.
  Attended c = attend("topk:k=5", x.q, x.k, x.v, true);
  EXPECT_EQ(c.probs[0][2].gt(0).sum().item<int64_t>(), 3);
  EXPECT_EQ(c.probs[0][30].gt(0).sum().item<int64_t>(), 5);
}

TEST(Variants, HierKeepsAtMostKeepBlocksPerRow) {
  const Qkv x = randomQkv(2, 64, 8);
  Attended a = attend("hier:block=8,keep=3", x.q, x.k, x.v);
  const at::Tensor blocksUsed = a.probs.gt(0).view({2, 64, 8, 8}).any(-1).sum(-1);  // [heads, q]
  EXPECT_TRUE(blocksUsed.le(3).all().item<bool>());
  EXPECT_TRUE(blocksUsed.ge(1).all().item<bool>());
  EXPECT_LT(maxAbsDiff(a.probs.sum(-1), at::ones({2, 64})), 1e-5);
  Attended c = attend("hier:block=8,keep=3", x.q, x.k, x.v, true);
  EXPECT_TRUE(c.probs.triu(1).eq(0).all().item<bool>()) << "causal: no future key";
}

TEST(Variants, LinearAndPerformerImpliedRowsSumToOneAndMatchTheirOutput) {
  const Qkv x = randomQkv(2, 150, 16);
  for (const std::string spec : {"linear", "linear:feature=elu", "performer:features=32,seed=3"}) {
    for (bool causal : {false, true}) {
      Attended a = attend(spec, x.q, x.k, x.v, causal);
      EXPECT_LT(maxAbsDiff(a.probs.sum(-1), at::ones({2, 150})), 1e-5) << spec;
      EXPECT_TRUE(a.probs.ge(0).all().item<bool>()) << spec;
      // The linear-time output equals the implied attention applied to v.
      EXPECT_LT(maxAbsDiff(a.out, at::matmul(a.probs, x.v)), 1e-4) << spec << " causal=" << causal;
      if (causal) EXPECT_TRUE(a.probs.triu(1).eq(0).all().item<bool>()) << spec;
    }
  }
  // Performer approximates softmax attention better with more features (same seed family).
  Attended full = attend("", x.q * 0.3, x.k * 0.3, x.v);
  Attended few = attend("performer:features=8,seed=1", x.q * 0.3, x.k * 0.3, x.v);
  Attended many = attend("performer:features=512,seed=1", x.q * 0.3, x.k * 0.3, x.v);
  EXPECT_LT(maxAbsDiff(many.probs, full.probs), maxAbsDiff(few.probs, full.probs));
  // Seeded: reproducible.
  EXPECT_TRUE(attend("performer:features=32,seed=3", x.q, x.k, x.v).out.equal(
      attend("performer:features=32,seed=3", x.q, x.k, x.v).out));
}

TEST(Variants, QuantDropoutGuideAndGraph) {
  const Qkv x = randomQkv(2, 30, 8);
  Attended full = attend("", x.q, x.k, x.v);
  // 16-bit quantisation is nearly exact; 2-bit is not.
  EXPECT_LT(maxAbsDiff(attend("quant:bits=16", x.q, x.k, x.v).probs, full.probs), 1e-3);
  EXPECT_GT(maxAbsDiff(attend("quant:bits=2", x.q, x.k, x.v).probs, full.probs), 1e-2);
  // Dropout: kept weights are scaled by 1/(1-p), dropped ones are 0; seeded and reproducible.
  Attended d = attend("dropout:p=0.5,seed=1", x.q, x.k, x.v);
  const at::Tensor kept = d.probs.gt(0);
  EXPECT_LT(maxAbsDiff(d.probs.masked_select(kept), (full.probs * 2).masked_select(kept)), 1e-6);
  const double share = kept.to(at::kDouble).mean().item<double>();
  EXPECT_GT(share, 0.4);
  EXPECT_LT(share, 0.6);
  EXPECT_TRUE(attend("dropout:p=0.5,seed=1", x.q, x.k, x.v).probs.equal(d.probs));
  EXPECT_FALSE(attend("dropout:p=0.5,seed=2", x.q, x.k, x.v).probs.equal(d.probs));
  // Guide: the guided key gets exactly the softmax with +bias on its logit.
  Attended g = attend("guide:tokens=3,7,bias=2.0", x.q, x.k, x.v);
  at::Tensor s = at::matmul(x.q, x.k.transpose(1, 2)) / std::sqrt(8.0);
  s.select(2, 3).add_(2.0);
  s.select(2, 7).add_(2.0);
  EXPECT_LT(maxAbsDiff(g.probs, at::softmax(s, -1)), 1e-6);
  // Graph: only neighbours and self.
  TempDir dir;
  std::ofstream(dir.file("adj.json")) << "{\"0\": [1, 2], \"5\": [29], \"7\": []}";
  Attended gr = attend("graph:adj=" + dir.file("adj.json"), x.q, x.k, x.v);
  EXPECT_EQ(gr.probs[0][0].gt(0).sum().item<int64_t>(), 3);
  EXPECT_TRUE(gr.probs[1][5].gt(0).nonzero().flatten().equal(at::tensor(std::vector<int64_t>{5, 29})));
  EXPECT_EQ(gr.probs[0][7][7].item<float>(), 1.0f);
  EXPECT_EQ(gr.probs[0][12][12].item<float>(), 1.0f) << "positions without a list attend to themselves";
}

// ---- metrics on hand-computed cases ----

TEST(Metrics, HandComputedValues) {
  const at::Tensor p = at::tensor({0.5, 0.5}, at::kDouble), q = at::tensor({1.0, 0.0}, at::kDouble);
  EXPECT_NEAR(jsDivergenceRows(p, p).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(jsDivergenceRows(at::tensor({1.0, 0.0}), at::tensor({0.0, 1.0})).item<double>(), std::log(2.0), 1e-12);
  EXPECT_NEAR(jsDivergenceRows(p, q).item<double>(), 0.75 * std::log(4.0 / 3.0), 1e-12);
  EXPECT_NEAR(jsDivergenceRows(p, at::zeros({2})).item<double>(), std::log(2.0), 1e-12) << "pruned row";
  EXPECT_NEAR(klDivergenceRows(p, at::tensor({0.25, 0.75})).item<double>(),
              0.5 * std::log(2.0) + 0.5 * std::log(0.5 / 0.75), 1e-12);
  EXPECT_NEAR(klDivergenceRows(p, p).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(klDivergenceRows(p, q).item<double>(), 0.5 * std::log(0.5 / 1.0) + 0.5 * std::log(0.5 / 1e-12), 1e-9);
  const at::Tensor a = at::tensor({0.4, 0.3, 0.2, 0.06, 0.03, 0.01}), b = at::tensor({0.01, 0.3, 0.2, 0.06, 0.03, 0.4});
  EXPECT_NEAR(topkOverlapRows(a, b, 5).item<double>(), 4.0 / 5.0, 1e-12);  // tops {0,1,2,3,4} vs {5,1,2,3,4}
  EXPECT_NEAR(topkOverlapRows(a, a, 5).item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(topkOverlapRows(at::tensor({0.7, 0.3}), at::tensor({0.3, 0.7}), 5).item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(l2Regularizer(at::tensor(std::vector<double>{0.5, 0.5, 1.0, 0.0}).view({2, 2})), 0.5 * (0.25 + 0.25 + 1.0), 1e-12);
  EXPECT_NEAR(cosineSimilarity(at::tensor({1.0, 0.0}), at::tensor({1.0, 1.0})), 1.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(cosineSimilarity(at::zeros({3}), at::ones({3})), 0.0, 1e-12);
  EXPECT_NEAR(relativeL2(at::tensor(std::vector<double>{3.0, 4.0}), at::tensor(std::vector<double>{3.0, 0.0})), 4.0 / 3.0, 1e-12);
}

// ---- end to end on the real stories260K ----

TEST(VariantsOnStories260K, FullIsBitIdenticalToAPlainRun) {
  auto m = loadModel(realModel("stories260K"), "cpu");
  PreparedInput in = prepareText(*m, "Once upon a time, there was a little girl named Lily.");
  auto full = makeVariant("full");
  RunResult plain = runModel(*m, in), withFull = runModel(*m, in, {}, nullptr, full.get());
  EXPECT_TRUE(plain.outputs.at("logits").equal(withFull.outputs.at("logits")));
  for (int l = 0; l < 5; ++l) EXPECT_TRUE(plain.capture->get("self", l).equal(withFull.capture->get("self", l)));
}

TEST(VariantsOnStories260K, WideWindowEqualsFullAndNarrowWindowDoesNot) {
  auto m = loadModel(realModel("stories260K"), "cpu");
  PreparedInput in = prepareText(*m, "Once upon a time");
  auto wide = makeVariant("window:w=512");
  GenerateResult a = generate(*m, in, 30), b = generate(*m, in, 30, {}, nullptr, wide.get());
  EXPECT_EQ(a.text, b.text);
  for (int l = 0; l < 5; ++l) EXPECT_LT(maxAbsDiff(a.capture->get("self", l), b.capture->get("self", l)), 1e-6);
  auto narrow = makeVariant("window:w=2");
  GenerateResult c = generate(*m, in, 30, {}, nullptr, narrow.get());
  EXPECT_NE(a.text, c.text);
  EXPECT_EQ(c.capture->get("self", 0)[0][20].gt(0).sum().item<int64_t>(), 2) << "each step sees the last 2 keys";
}

TEST(VariantsOnStories260K, PruningAllHeadsOfALayerChangesTheTextAndZeroesOnlyThoseHeads) {
  auto m = loadModel(realModel("stories260K"), "cpu");
  PreparedInput in = prepareText(*m, "Once upon a time");
  std::string heads;
  for (int h = 0; h < 8; ++h) heads += (h ? "," : "") + std::string("L1H") + std::to_string(h);
  auto layer1 = makeVariant("prune:heads=" + heads);
  layer1->prepare(*m, in);
  GenerateResult a = generate(*m, in, 30), b = generate(*m, in, 30, {}, nullptr, layer1.get());
  EXPECT_NE(a.text, b.text);

  // Two heads of layer 0: their outputs are exactly zero, the other heads of the layer are untouched.
  auto two = makeVariant("prune:heads=L0H1,L0H6");
  two->prepare(*m, in);
  Comparison c = compareVariants(*m, in, {"prune:heads=L0H1,L0H6"}, CompareOptions{1});
  const at::Tensor outFull = c.outcomes[0].run.capture->headOutputs().at({"self", 0});  // [heads, q, d]
  const at::Tensor outPruned = c.outcomes[1].run.capture->headOutputs().at({"self", 0});
  for (int h = 0; h < 8; ++h) {
    if (h == 1 || h == 6)
      EXPECT_EQ(outPruned[h].abs().max().item<float>(), 0.0f) << h;
    else
      EXPECT_TRUE(outPruned[h].equal(outFull[h])) << h;
  }
  EXPECT_EQ(c.report["variants"][1]["details"]["pruned_heads"], nlohmann::json({"L0H1", "L0H6"}));
  EXPECT_NEAR(c.report["variants"][1]["layers"][0]["heads"][1]["js_mean"].get<double>(), std::log(2.0), 1e-6);  // float32 metrics
  EXPECT_EQ(c.report["variants"][1]["layers"][0]["heads"][0]["js_mean"].get<double>(), 0.0);
}

/// Encoder–decoder models: LxHy is that head of every stack; cross.LxHy (or decoder., encoder.) only that stack's.
TEST(Variants, PruneNamesOneStacksHeadOrTheHeadOfEveryStack) {
  const std::string dir = golden("whisper-tiny-random");
  auto m = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*m, dir + "/expected.safetensors");
  // A pruned head's output is zero, and so are the probabilities shown for it.
  const auto capture = [&](const std::string& spec) {
    auto v = makeVariant(spec);
    v->prepare(*m, in);
    return runModel(*m, in, {}, nullptr, v.get()).capture;
  };
  const auto zeroed = [](const at::Tensor& probs, int64_t h) { return probs[h].abs().max().item<float>() == 0.0f; };
  const auto one = capture("prune:heads=cross.L1H3");
  EXPECT_TRUE(zeroed(one->get("cross", 1), 3));
  EXPECT_FALSE(zeroed(one->get("decoder", 1), 3));
  EXPECT_FALSE(zeroed(one->get("encoder", 1), 3));
  EXPECT_FALSE(zeroed(one->get("cross", 1), 2));
  EXPECT_FALSE(zeroed(one->get("cross", 0), 3));
  const auto every = capture("prune:heads=L1H3");
  for (const char* stack : {"encoder", "decoder", "cross"}) EXPECT_TRUE(zeroed(every->get(stack, 1), 3)) << stack;
  auto named = makeVariant("prune:heads=decoder.L0H1,L1H0");
  named->prepare(*m, in);
  EXPECT_EQ(named->details()["pruned_heads"], nlohmann::json({"L1H0", "decoder.L0H1"}));
  auto bad = makeVariant("prune:heads=self.L0H0");
  try {
    bad->prepare(*m, in);
    ADD_FAILURE() << "a stack the model does not have was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("its stacks: encoder, decoder, cross"), std::string::npos) << e.what();
  }
}

TEST(VariantsOnStories260K, ImportanceRankingIsStableAcrossRuns) {
  auto m = loadModel(realModel("stories260K"), "cpu");
  PreparedInput in = prepareText(*m, "Once upon a time, there was a little girl named Lily. She loved to play.");
  auto a = makeVariant("prune:ratio=0.25"), b = makeVariant("prune:ratio=0.25,by=importance");
  a->prepare(*m, in);
  b->prepare(*m, in);
  EXPECT_EQ(a->details()["pruned_heads"], b->details()["pruned_heads"]);
  EXPECT_EQ(a->details()["pruned_heads"].size(), 10u);  // 25 % of 40 heads
  const auto sa = a->details()["ranking"]["scores"], sb = b->details()["ranking"]["scores"];
  for (size_t l = 0; l < 5; ++l) {
    double norm = 0;
    for (size_t h = 0; h < 8; ++h) {
      EXPECT_NEAR(sa[l][h].get<double>(), sb[l][h].get<double>(), 1e-6);
      norm += std::pow(sa[l][h].get<double>(), 2);
    }
    EXPECT_NEAR(norm, 1.0, 1e-4) << "importance is L2-normalised per layer";
  }
  auto e = makeVariant("prune:ratio=0.25,by=entropy");
  e->prepare(*m, in);
  EXPECT_EQ(e->details()["ranking"]["by"], "entropy");
}

TEST(VariantsOnStories260K, ComparisonReportHasCostsAndMetricsForEveryVariant) {
  auto m = loadModel(realModel("stories260K"), "cpu");
  PreparedInput in = prepareText(*m, "Once upon a time, there was a little girl named Lily.");
  Comparison c = compareVariants(*m, in, {"window:w=4", "linear", "topk:k=3"}, CompareOptions{2});
  const auto& vs = c.report["variants"];
  ASSERT_EQ(vs.size(), 4u);
  EXPECT_EQ(vs[0]["spec"], "full");
  EXPECT_EQ(vs[0]["model_metrics"]["top1_agreement"], 1.0);
  EXPECT_EQ(vs[0]["model_metrics"]["logits_kl"], 0.0);
  for (const auto& v : vs) {
    EXPECT_EQ(v["cost"]["seconds"].size(), 2u);
    EXPECT_GT(v["cost"]["attention_flops"].get<double>(), 0);
    EXPECT_GT(v["cost"]["peak_bytes"].get<int64_t>(), 0);
    ASSERT_EQ(v["layers"].size(), 5u);
    EXPECT_EQ(v["layers"][0]["heads"].size(), 8u);
  }
  // The window sees ≤ 4 keys per row (T = 15): it must cost fewer analytic FLOPs than full.
  EXPECT_LT(vs[1]["cost"]["flops_ratio"].get<double>(), 0.6);
  // The report's numbers follow the reference definitions (recomputed here in float64 from the captures).
  for (size_t v = 1; v < 4; ++v) {
    const at::Tensor pf = c.outcomes[0].run.capture->get("self", 2)[3].to(at::kDouble);  // [q, k]
    const at::Tensor pv = c.outcomes[v].run.capture->get("self", 2)[3].to(at::kDouble);
    const auto& H = vs[v]["layers"][2]["heads"][3];
    EXPECT_NEAR(H["js_mean"].get<double>(), jsDivergenceRows(pf, pv).mean().item<double>(), 1e-5);
    EXPECT_NEAR(H["js_max"].get<double>(), jsDivergenceRows(pf, pv).max().item<double>(), 1e-5);
    EXPECT_NEAR(H["kl_mean"].get<double>(), klDivergenceRows(pf, pv).mean().item<double>(),
                1e-4 * std::max(1.0, H["kl_mean"].get<double>()));
    EXPECT_NEAR(H["top5_overlap"].get<double>(), topkOverlapRows(pf, pv, 5).mean().item<double>(), 1e-6);
    EXPECT_NEAR(H["l2_variant"].get<double>(), l2Regularizer(pv), 1e-6);
  }
  EXPECT_GT(vs[1]["model_metrics"]["logits_kl"].get<double>(), 0.0);
}

// ---- bad specs ----

TEST(VariantSpecs, BadSpecsNameTheSpec) {
  auto expectError = [](const std::string& spec, const std::string& needle) {
    try {
      makeVariant(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(spec), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expectError("window:w=-1", "at least 1");
  expectError("sink:n=4,w=0", "at least 1");
  expectError("sink:n=-1", "at least 0");
  expectError("window", "missing w");
  expectError("window:w=", "missing value");
  expectError("window:w=abc", "not an integer");
  expectError("window:x=3", "unknown parameter 'x'");
  expectError("sparse:w=3", "unknown variant 'sparse'");
  expectError("block:size=0", "at least 1");
  expectError("topk:k=2.5", "not an integer");
  expectError("prune:ratio=1.5", "between 0 and 1");
  expectError("prune", "either heads");
  expectError("prune:ratio=0.2,by=magic", "importance or entropy");
  expectError("guide:bias=2", "missing tokens");
  expectError("graph:adj=/nonexistent/adj.json", "cannot open");
  expectError("dropout:p=1", "[0, 1)");
  expectError("linear:feature=relu", "not supported");

  auto m = loadModel(realModel("stories260K"), "cpu");
  PreparedInput in = prepareText(*m, "Once upon a time");
  auto bad = makeVariant("prune:heads=L99H0");
  try {
    bad->prepare(*m, in);
    ADD_FAILURE() << "L99H0 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("prune:heads=L99H0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("5 layers"), std::string::npos) << e.what();
  }
  auto guide = makeVariant("guide:tokens=40,bias=1");
  EXPECT_THROW(runModel(*m, in, {}, nullptr, guide.get()), InputError);
}

}  // namespace
