// The decoder families as they ship (Qwen2, Mistral, Gemma, GPT-NeoX, Phi-3, OPT, and Llama's config features):
// rope scaling against independent numbers, the sliding-window band, incremental decoding equal to one full forward,
// and the config errors a damaged or unusual checkpoint gives. Golden parity itself is in ParityTest.cpp.
#include <gtest/gtest.h>

#include <fstream>

#include "graphs/Rotary.h"
#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

nlohmann::json readJson(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

/// A copy of a golden case folder whose config.json is edited by \p edit.
std::string editedCopy(const TempDir& tmp, const std::string& caseName,
                       const std::function<void(nlohmann::json&)>& edit) {
  const std::string src = golden(caseName), dst = tmp.file(caseName);
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) fs::copy(e.path(), dst + "/" + e.path().filename().string());
  nlohmann::json cfg = readJson(dst + "/config.json");
  edit(cfg);
  std::ofstream(dst + "/config.json") << cfg.dump(1);
  return dst;
}

std::string loadError(const std::string& dir) {
  try {
    loadModel(dir, "cpu");
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a ConfigError: ") + e.what();
  }
  return "loaded";
}

TEST(RopeScaling, EveryTypeMatchesIndependentNumbers) {
  const auto ref = readJson(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/rope_reference.json");
  ASSERT_GE(ref["cases"].size(), 9u);
  for (const auto& c : ref["cases"]) {
    const std::string name = c["name"];
    const ModelConfig cfg = ModelConfig::fromJson(c["config"], name + ".json");
    const Rotary rotary = Rotary::fromConfig(cfg, c["head_dim"].get<int64_t>(), c["rotary_dim"].get<int64_t>());
    double factor = 0;
    const std::vector<float> inv = rotary.inverseFrequencies(c["seq_len"].get<int64_t>(), &factor);
    const auto& want = c["inv_freq"];
    ASSERT_EQ(inv.size(), want.size()) << name;
    for (size_t i = 0; i < inv.size(); ++i)
      EXPECT_NEAR(inv[i], want[i].get<double>(), 2e-6 * want[i].get<double>()) << name << " frequency " << i;
    EXPECT_NEAR(factor, c["attention_factor"].get<double>(), 1e-9) << name;
  }
}

TEST(RopeScaling, TablesCarryTheAttentionFactorAndPartialRotaryLeavesTheRestAlone) {
  const auto cfg = ModelConfig::fromJson(
      {{"rope_theta", 10000.0},
       {"max_position_embeddings", 64},
       {"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}}},
      "yarn.json");
  const Rotary rotary = Rotary::fromConfig(cfg, 16, 8);
  const RotaryTables t = rotary.tables(3, 5, at::kCPU, at::kFloat);
  ASSERT_EQ(t.cos.sizes(), (std::vector<int64_t>{5, 8}));
  const double factor = 0.1 * std::log(4.0) + 1.0;
  // Position 3, frequency 0 (inverse frequency 1 at channel 0): cos(3)·factor.
  EXPECT_NEAR(t.cos[0][0].item<double>(), std::cos(3.0) * factor, 1e-6);
  const at::Tensor x = at::randn({2, 5, 16});  // [heads, T, d]
  const at::Tensor y = rotary.apply(x, t);      // [heads, T, d]
  EXPECT_TRUE(y.narrow(-1, 8, 8).equal(x.narrow(-1, 8, 8))) << "channels past the rotary width must pass through";
  EXPECT_FALSE(y.narrow(-1, 0, 8).equal(x.narrow(-1, 0, 8)));
}

TEST(SlidingWindow, MistralSeesExactlyWindowKeysAndTheBandShowsInTheCapture) {
  const std::string dir = golden("mistral-tiny-random");
  const int64_t window = readJson(dir + "/config.json")["sliding_window"];
  auto model = loadModel(dir, "cpu");
  RunResult r = runModel(*model, prepareInputsFile(*model, dir + "/expected.safetensors"));
  for (int l = 0; l < 2; ++l) {
    const at::Tensor p = r.capture->get("self", l);  // [heads, T, T]
    const int64_t T = p.size(1);
    ASSERT_GT(T, window) << "the case must be longer than the window";
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) {
        const bool inBand = j <= i && j > i - window;
        const double v = p.select(1, i).select(1, j).abs().max().item<double>();
        if (!inBand) EXPECT_EQ(v, 0.0) << "layer " << l << " query " << i << " key " << j;
        else EXPECT_GT(v, 0.0) << "layer " << l << " query " << i << " key " << j;
      }
  }
}

class IncrementalDecoding : public ::testing::TestWithParam<std::string> {};

// Generation runs with a key/value cache; each step's attention row must equal the same row of one full forward
// over the final sequence (positions, rotary tables, windows and learned offsets all continue correctly).
TEST_P(IncrementalDecoding, StepAttentionEqualsOneFullForward) {
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
  }
}

INSTANTIATE_TEST_SUITE_P(Families, IncrementalDecoding,
                         ::testing::Values("qwen2-tiny-random", "mistral-tiny-random", "gemma-tiny-random",
                                           "gpt_neox-tiny-random", "phi3-tiny-random", "opt-tiny-random"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(DecoderFamilies, InfoNamesTheFamilyAndTheStoredDtype) {
  auto qwen = loadModel(golden("qwen2-tiny-random"), "cpu");
  EXPECT_EQ(qwen->model->info().modelType, "qwen2");
  EXPECT_EQ(qwen->model->info().dtype, "BF16");
  EXPECT_EQ(qwen->model->info().kvHeads, 2);
  auto gemma = loadModel(golden("gemma-tiny-random"), "cpu");
  EXPECT_EQ(gemma->model->info().dtype, "F16");
  EXPECT_EQ(gemma->model->info().architecture, "GemmaForCausalLM");
}

TEST(DecoderConfigErrors, HiddenNotDivisibleByHeadsWithoutHeadDim) {
  TempDir tmp;
  const std::string dir = editedCopy(tmp, "mistral-tiny-random", [](nlohmann::json& c) {
    c.erase("head_dim");
    c["num_attention_heads"] = 5;
    c["num_key_value_heads"] = 5;
  });
  const std::string e = loadError(dir);
  EXPECT_NE(e.find("hidden_size 32 is not divisible by num_attention_heads 5"), std::string::npos) << e;
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
}

TEST(DecoderConfigErrors, HeadsNotAMultipleOfKeyValueHeads) {
  TempDir tmp;
  const std::string dir = editedCopy(tmp, "qwen2-tiny-random", [](nlohmann::json& c) { c["num_key_value_heads"] = 3; });
  const std::string e = loadError(dir);
  EXPECT_NE(e.find("num_attention_heads 4 is not a multiple of num_key_value_heads 3"), std::string::npos) << e;
}

TEST(DecoderConfigErrors, UnknownRopeScalingType) {
  TempDir tmp;
  const std::string dir = editedCopy(tmp, "phi3-tiny-random", [](nlohmann::json& c) {
    c["rope_scaling"] = {{"type", "wobbly"}, {"factor", 2.0}};
  });
  const std::string e = loadError(dir);
  EXPECT_NE(e.find("rope_scaling type 'wobbly' is not supported"), std::string::npos) << e;
}

TEST(DecoderConfigErrors, MissingRopeScalingParameterIsNamed) {
  TempDir tmp;
  const std::string dir = editedCopy(tmp, "gemma-tiny-random", [](nlohmann::json& c) {
    c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  });
  const std::string e = loadError(dir);
  EXPECT_NE(e.find("lacks the field 'low_freq_factor'"), std::string::npos) << e;
}

TEST(DecoderConfigErrors, HugeLayerCountIsRefusedBeforeAnythingIsSized) {
  TempDir tmp;
  for (const char* name : {"opt-tiny-random", "gpt_neox-tiny-random", "qwen2-tiny-random"}) {
    const std::string dir = editedCopy(tmp, name, [](nlohmann::json& c) { c["num_hidden_layers"] = 1099511627776LL; });
    const std::string e = loadError(dir);
    EXPECT_NE(e.find("'num_hidden_layers' is 1099511627776, expected 1 to"), std::string::npos) << name << ": " << e;
  }
}

TEST(DecoderConfigErrors, NonPositiveRopeThetaIsRefused) {
  TempDir tmp;
  const std::string dir = editedCopy(tmp, "mistral-tiny-random", [](nlohmann::json& c) { c["rope_theta"] = 0; });
  const std::string e = loadError(dir);
  EXPECT_NE(e.find("rope_theta must be a finite number above 1"), std::string::npos) << e;
}

}  // namespace
