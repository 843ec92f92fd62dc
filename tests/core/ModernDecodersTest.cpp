// The 2024–26 decoders' own structure, against the golden references (../shared/golden): mixture-of-experts
// routing (router logits, the experts chosen, their weights) and gpt-oss's learned attention sinks, as the
// capture reports them; generation with a cache equal to one full forward for every new family (windows,
// sinks, NoPE, soft-caps and routing included); and the config errors the new fields can give. Attention /
// hidden / logits parity of these families is in ParityTest.cpp.
#include <gtest/gtest.h>

#include <fstream>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

std::string caseName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (auto& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

class MoeRouting : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeRouting, RouterLogitsAndChoicesMatchReference) {
  const std::string dir = golden(GetParam());
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  RunResult r = runModel(*model, prepareInputsFile(*model, dir + "/expected.safetensors"));
  const at::Tensor layers = expected.at("router_layers");  // [n]
  const ModelInfo& info = model->model->info();
  ASSERT_EQ(static_cast<int64_t>(info.routedLayers.size()), layers.size(0));
  ASSERT_EQ(r.capture->routing().size(), info.routedLayers.size()) << "one routing record per MoE layer";
  EXPECT_GT(info.experts, 0);
  for (int64_t i = 0; i < layers.size(0); ++i) {
    const int layer = static_cast<int>(layers[i].item<int64_t>());
    EXPECT_EQ(info.routedLayers[static_cast<size_t>(i)], layer);
    const auto it = r.capture->routing().find({"self", layer});
    ASSERT_NE(it, r.capture->routing().end()) << "layer " << layer;
    const RoutingRecord& got = it->second;
    EXPECT_LT(maxAbsDiff(got.logits, expected.at("router_logits")[i]), 1e-4) << "layer " << layer;
    EXPECT_EQ(got.chosen.size(1), info.expertsPerToken);
    // The k chosen experts are the k largest of the reference's logits (softmax and top-k keep their order).
    const at::Tensor refTop =
        std::get<1>(expected.at("router_logits")[i].topk(info.expertsPerToken, -1));  // [T, k]
    EXPECT_TRUE(got.chosen.equal(refTop)) << "layer " << layer;
    if (expected.count("router_topk"))
      EXPECT_TRUE(got.chosen.equal(expected.at("router_topk")[i])) << "layer " << layer;
    if (expected.count("router_scores")) {
      // HF's router output: the k weights scattered into [T, experts].
      const at::Tensor scattered = at::zeros_like(got.probs).scatter(1, got.chosen, got.weights);  // [T, E]
      EXPECT_LT(maxAbsDiff(scattered, expected.at("router_scores")[i]), 1e-5) << "layer " << layer;
    }
    // Routers choose different experts for different tokens in every case (the fixtures make sure of it).
    EXPECT_GT(std::get<0>(at::_unique(got.chosen.select(1, 0))).numel(), 1) << "layer " << layer;
    EXPECT_LT((got.probs.sum(-1) - 1).abs().max().item<double>(), 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, MoeRouting,
                         ::testing::Values("mixtral-tiny-random", "qwen2_moe-tiny-random",
                                           "qwen3_moe-tiny-random", "gpt_oss-tiny-random"),
                         caseName);

TEST(MoeRouting, DenseLayersOfAMixedModelHaveNoRouter) {
  auto model = loadModel(golden("qwen2_moe-tiny-random"), "cpu");
  EXPECT_EQ(model->model->info().routedLayers, (std::vector<int>{0, 2}));
  EXPECT_EQ(model->model->info().experts, 6);
  EXPECT_EQ(model->model->info().expertsPerToken, 2);
  auto dense = loadModel(golden("qwen3-tiny-random"), "cpu");
  EXPECT_EQ(dense->model->info().experts, 0);
  EXPECT_TRUE(dense->model->info().routedLayers.empty());
}

TEST(AttentionSinks, SinkMassMatchesReferenceAndCompletesEveryRow) {
  const std::string dir = golden("gpt_oss-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  EXPECT_TRUE(model->model->info().attentionSinks);
  RunResult r = runModel(*model, prepareInputsFile(*model, dir + "/expected.safetensors"));
  const at::Tensor ref = expected.at("sink_probs");  // [layers, heads, T]
  ASSERT_EQ(r.capture->sinkMass().size(), static_cast<size_t>(ref.size(0)));
  double largest = 0;
  for (int l = 0; l < ref.size(0); ++l) {
    const at::Tensor got = r.capture->sinkMass().at({"self", l});  // [heads, T]
    ASSERT_EQ(got.sizes(), ref[l].sizes());
    EXPECT_LT(maxAbsDiff(got, ref[l]), 1e-5) << "layer " << l;
    largest = std::max(largest, got.max().item<double>());
  }
  EXPECT_GT(largest, 0.05) << "the sinks take visible mass in this case";
}

TEST(AttentionSinks, QueryKeyCaptureReproducesTheSinkedProbabilities) {
  // A queries/keys capture folds the sink into each row's log-sum-exp: tiles recompute HF's real-key
  // probabilities.
  const std::string dir = golden("gpt_oss-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  CaptureSelection sel;
  sel.kind = CaptureKind::QueryKey;
  RunResult r = runModel(*model, prepareInputsFile(*model, dir + "/expected.safetensors"), sel);
  for (int l = 0; l < 3; ++l)
    EXPECT_LT(maxAbsDiff(r.capture->queryKeys().at({"self", l}).probabilities(),
                         expected.at("attentions." + std::to_string(l))),
              1e-5)
        << "layer " << l;
}

TEST(SoftCapping, QueryKeyCaptureOfGemma2ReproducesTheCappedProbabilities) {
  const std::string dir = golden("gemma2-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  CaptureSelection sel;
  sel.kind = CaptureKind::QueryKey;
  RunResult r = runModel(*model, prepareInputsFile(*model, dir + "/expected.safetensors"), sel);
  for (int l = 0; l < 3; ++l) {
    const QueryKeyLayer& q = r.capture->queryKeys().at({"self", l});
    EXPECT_EQ(q.softcap, 5.0);
    EXPECT_LT(maxAbsDiff(q.probabilities(), expected.at("attentions." + std::to_string(l))), 1e-5)
        << "layer " << l;
  }
}

class NewFamilyGeneration : public ::testing::TestWithParam<std::string> {};

// Each generated step's attention row, sink mass and routing equal the same rows of one full forward over the
// final sequence.
TEST_P(NewFamilyGeneration, CachedStepsEqualOneFullForward) {
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  PreparedInput prompt = prepareInputsFile(*model, dir + "/expected.safetensors");
  prompt.tensors.erase("attention_mask");
  GenerateResult g = generate(*model, prompt, 6);
  ASSERT_GT(static_cast<int64_t>(g.ids.size()), g.promptLength);
  PreparedInput full;
  full.tensors["input_ids"] = at::tensor(g.ids, at::kLong).unsqueeze(0);  // [1, T]
  RunResult r = runModel(*model, full);
  for (int l = 0; l < model->model->info().layers; ++l) {
    const at::Tensor stepwise = g.capture->get("self", l);  // [heads, T, T]
    ASSERT_EQ(stepwise.sizes(), r.capture->get("self", l).sizes());
    EXPECT_LT(maxAbsDiff(stepwise, r.capture->get("self", l)), 1e-5) << "layer " << l;
    if (r.capture->sinkMass().count({"self", l}))
      EXPECT_LT(maxAbsDiff(g.capture->sinkMass().at({"self", l}), r.capture->sinkMass().at({"self", l})),
                1e-5);
    if (r.capture->routing().count({"self", l})) {
      const RoutingRecord& a = g.capture->routing().at({"self", l});
      const RoutingRecord& b = r.capture->routing().at({"self", l});
      EXPECT_LT(maxAbsDiff(a.logits, b.logits), 1e-4) << "layer " << l;
      EXPECT_TRUE(a.chosen.equal(b.chosen)) << "layer " << l;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, NewFamilyGeneration,
                         ::testing::Values("qwen3-tiny-random", "gemma2-tiny-random",
                                           "gemma3_text-tiny-random", "smollm3-tiny-random",
                                           "olmo2-tiny-random", "granite-tiny-random",
                                           "starcoder2-tiny-random", "mixtral-tiny-random",
                                           "qwen2_moe-tiny-random", "qwen3_moe-tiny-random",
                                           "gpt_oss-tiny-random"),
                         caseName);

/// A copy of a golden case whose config.json is edited by \p edit; the load error it gives.
std::string errorWithConfig(const std::string& caseName, const std::function<void(nlohmann::json&)>& edit) {
  TempDir tmp;
  const std::string src = golden(caseName), dst = tmp.file(caseName);
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src))
    fs::copy(e.path(), dst + "/" + e.path().filename().string());
  nlohmann::json cfg;
  {
    std::ifstream f(dst + "/config.json");
    cfg = nlohmann::json::parse(f);
  }
  edit(cfg);
  std::ofstream(dst + "/config.json") << cfg.dump(1);
  try {
    loadModel(dst, "cpu");
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a ConfigError: ") + e.what();
  }
  return "loaded";
}

TEST(ModernDecoderConfigErrors, LayerTypesOfTheWrongLengthAreNamed) {
  const std::string e = errorWithConfig("gpt_oss-tiny-random", [](nlohmann::json& c) {
    c["layer_types"] = {"sliding_attention", "full_attention"};
  });
  EXPECT_NE(e.find("layer_types"), std::string::npos) << e;
  EXPECT_NE(e.find("3"), std::string::npos) << e;
}

TEST(ModernDecoderConfigErrors, UnknownLayerTypeIsNamed) {
  const std::string e = errorWithConfig("gpt_oss-tiny-random", [](nlohmann::json& c) {
    c["layer_types"] = {"sliding_attention", "linear_attention", "full_attention"};
  });
  EXPECT_NE(e.find("linear_attention"), std::string::npos) << e;
}

TEST(ModernDecoderConfigErrors, BadNoRopeEntryIsNamed) {
  const std::string e = errorWithConfig("smollm3-tiny-random", [](nlohmann::json& c) {
    c["no_rope_layers"] = {1, 1, 2, 0};
  });
  EXPECT_NE(e.find("no_rope_layers"), std::string::npos) << e;
}

TEST(ModernDecoderConfigErrors, MoreExpertsPerTokenThanExpertsIsRefused) {
  const std::string e =
      errorWithConfig("mixtral-tiny-random", [](nlohmann::json& c) { c["num_experts_per_tok"] = 5; });
  EXPECT_NE(e.find("num_experts_per_tok"), std::string::npos) << e;
}

TEST(ModernDecoderConfigErrors, NonPositiveQueryPreAttnScalarIsRefused) {
  const std::string e =
      errorWithConfig("gemma2-tiny-random", [](nlohmann::json& c) { c["query_pre_attn_scalar"] = 0; });
  EXPECT_NE(e.find("query_pre_attn_scalar"), std::string::npos) << e;
}

TEST(ModernDecoderConfigErrors, MissingExpertTensorIsNamed) {
  // A checkpoint without one expert's weights is refused by name, not run with garbage.
  TempDir tmp;
  const std::string src = golden("mixtral-tiny-random");
  auto tensors = readAll(src + "/model.safetensors");
  tensors.erase("model.layers.1.block_sparse_moe.experts.2.w3.weight");
  const std::string dst = tmp.file("m");
  fs::create_directories(dst);
  fs::copy(src + "/config.json", dst + "/config.json");
  SafetensorsWriter w;
  for (const auto& [n, t] : tensors) w.add(n, t);
  w.write(dst + "/model.safetensors");
  try {
    loadModel(dst, "cpu");
    FAIL() << "loaded without an expert weight";
  } catch (const ModelLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("experts.2.w3.weight"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

TEST(ModernDecoderCli, RunWritesRoutingAndSinkMassAndInfoDescribesThem) {
  TempDir tmp;
  const std::string cli = std::string("'") + ATTNSCOPE_CLI_PATH + "'";
  for (const std::string name : {"mixtral-tiny-random", "gpt_oss-tiny-random"}) {
    const std::string dir = golden(name), out = tmp.file(name + ".safetensors");
    const CommandResult r = runCommand(cli + " run --model '" + dir + "' --inputs '" + dir +
                                       "/expected.safetensors' --out '" + out + "'");
    ASSERT_EQ(r.status, 0) << r.output;
    auto file = SafetensorsFile::open(out);
    auto expected = readAll(dir + "/expected.safetensors");
    const at::Tensor logits = expected.at("router_logits");  // [layers, T, E]
    for (int l = 0; l < logits.size(0); ++l) {
      const std::string n = std::to_string(l);
      ASSERT_TRUE(file->has("router." + n) && file->has("router_logits." + n) &&
                  file->has("router_topk." + n) && file->has("router_weights." + n))
          << name << " layer " << l;
      EXPECT_LT(maxAbsDiff(file->tensor("router_logits." + n), logits[l]), 1e-4);
      EXPECT_EQ(file->tensor("router." + n).size(1), logits.size(2));
    }
    const auto meta = nlohmann::json::parse(file->metadata().at("attnscope"));
    EXPECT_EQ(meta["experts"]["experts"].get<int>(), static_cast<int>(logits.size(2)));
    EXPECT_EQ(file->has("sink_probs.0"), name == "gpt_oss-tiny-random");
    if (file->has("sink_probs.0"))
      EXPECT_LT(maxAbsDiff(file->tensor("sink_probs.0"), expected.at("sink_probs")[0]), 1e-5);
    const CommandResult info = runCommand(cli + " info --model '" + dir + "'");
    ASSERT_EQ(info.status, 0) << info.output;
    EXPECT_NE(info.output.find("experts:"), std::string::npos) << info.output;
    EXPECT_EQ(info.output.find("sinks:") != std::string::npos, name == "gpt_oss-tiny-random") << info.output;
  }
}

}  // namespace
