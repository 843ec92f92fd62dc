// Parity with the independent golden references (../shared/golden): every layer's
// attention, the last hidden state and the logits within the README's tolerances,
// fed the exact golden inputs. Plus the invariants of every capture.
#include <gtest/gtest.h>

#include "TestSupport.h"
#include <fstream>

#include "attnscope/CaptureFile.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

constexpr double kAttentionTol = 1e-5;
constexpr double kHiddenTol = 1e-4;

struct Case {
  std::string name;
  int layers;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class GoldenParity : public ::testing::TestWithParam<Case> {};

TEST_P(GoldenParity, AttentionsHiddenAndLogitsMatchReference) {
  const Case c = GetParam();
  const std::string dir = golden(c.name);
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  RunResult r = runModel(*model, in);

  int compared = 0;
  double worstAttention = 0;
  for (const auto& stack : model->model->info().stacks) {
    for (int l = 0;; ++l) {
      const std::string name = captureTensorName(stack, l);
      if (!expected.count(name)) {
        EXPECT_FALSE(r.capture->get(stack, l).defined()) << name << " captured but not expected";
        break;
      }
      const at::Tensor got = r.capture->get(stack, l);  // [heads, q, k]
      ASSERT_TRUE(got.defined()) << name;
      ASSERT_EQ(got.sizes(), expected[name].sizes()) << name;
      EXPECT_LT(maxAbsDiff(got, expected[name]), kAttentionTol) << c.name << " " << name;
      worstAttention = std::max(worstAttention, maxAbsDiff(got, expected[name]));
      ++compared;
    }
  }
  EXPECT_EQ(compared, c.layers) << "attention tensors compared";
  std::cout << "[ parity ] " << c.name << ": attention max |diff| " << worstAttention;
  if (expected.count("logits") && r.outputs.count("logits"))
    std::cout << ", logits max |diff| " << maxAbsDiff(r.outputs.at("logits"), expected.at("logits"));
  std::cout << "\n";
  if (expected.count("last_hidden_state"))
    EXPECT_LT(maxAbsDiff(r.outputs.at("last_hidden_state"), expected.at("last_hidden_state")), kHiddenTol);
  if (expected.count("encoder_last_hidden_state"))
    EXPECT_LT(maxAbsDiff(r.outputs.at("encoder_last_hidden_state"), expected.at("encoder_last_hidden_state")),
              kHiddenTol);
  if (expected.count("logits")) {
    ASSERT_EQ(r.outputs.at("logits").sizes(), expected.at("logits").sizes());
    EXPECT_LT(maxAbsDiff(r.outputs.at("logits"), expected.at("logits")), kHiddenTol);
  }
  if (expected.count("logits_last")) {
    const at::Tensor& logits = r.outputs.at("logits");  // [T, V]
    EXPECT_LT(maxAbsDiff(logits[logits.size(0) - 1], expected.at("logits_last")), kHiddenTol);
  }
  if (expected.count("pooler_output"))
    EXPECT_LT(maxAbsDiff(r.outputs.at("pooler_output"), expected.at("pooler_output")), kHiddenTol);
  // Intermediate tensors some references record (DINOv2's interpolated positions, T5's position bias, wav2vec2's
  // conv features): each must be an output and match.
  for (const char* name : {"position_embeddings_interpolated", "encoder_position_bias", "decoder_position_bias",
                           "extract_features"})
    if (expected.count(name)) {
      ASSERT_TRUE(r.outputs.count(name)) << name;
      EXPECT_LT(maxAbsDiff(r.outputs.at(name), expected.at(name)), kHiddenTol) << name;
    }
}

class TokenizerParity : public ::testing::TestWithParam<Case> {};

TEST_P(TokenizerParity, TokenizerReproducesGoldenInputIds) {
  const Case c = GetParam();
  const std::string dir = golden(c.name);
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  std::ifstream f(dir + "/case.json");
  const auto caseJson = nlohmann::json::parse(f);
  ASSERT_TRUE(caseJson.contains("input") && caseJson.at("input").contains("text")) << "not a text case";
  const auto& input = caseJson.at("input");
  std::optional<std::string> pair;
  if (input.contains("text_pair")) pair = input["text_pair"].get<std::string>();
  PreparedInput in = prepareText(*model, input["text"].get<std::string>(), pair);
  EXPECT_TRUE(in.tensors.at("input_ids").equal(expected.at("input_ids")));
  if (expected.count("token_type_ids"))
    EXPECT_TRUE(in.tensors.at("token_type_ids").equal(expected.at("token_type_ids")));
}

TEST_P(GoldenParity, EveryRowSumsToOneAndCausalUpperTriangleIsZero) {
  const Case c = GetParam();
  const std::string dir = golden(c.name);
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  RunResult r = runModel(*model, in);
  for (const auto& [key, probs] : r.capture->records()) {
    at::Tensor sums = probs.sum(-1);  // [heads, q]
    // A learned sink takes the rest of each row (gpt-oss); every other family has none.
    const auto sink = r.capture->sinkMass().find(key);
    EXPECT_EQ(sink != r.capture->sinkMass().end(), model->model->info().attentionSinks);
    if (sink != r.capture->sinkMass().end()) sums = sums + sink->second;  // [heads, q]
    EXPECT_LT((sums - 1.0).abs().max().item<double>(), 1e-5) << key.first << " " << key.second;
    if (model->model->info().causal) {
      const at::Tensor upper = probs.triu(1);  // [heads, q, k]
      EXPECT_EQ(upper.abs().max().item<float>(), 0.0f) << "layer " << key.second;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GoldenParity,
                         ::testing::Values(Case{"bert-tiny-random", 2}, Case{"gpt2-tiny-random", 2},
                                           Case{"llama-stories260k", 5}, Case{"llama-gqa-random", 2},
                                           Case{"vit-tiny-random", 2}, Case{"kwt1-audio", 12},
                                           Case{"whisper-tiny-random", 6}, Case{"qwen2-tiny-random", 2},
                                           Case{"mistral-tiny-random", 2}, Case{"gemma-tiny-random", 2},
                                           Case{"gpt_neox-tiny-random", 2}, Case{"phi3-tiny-random", 2},
                                           Case{"opt-tiny-random", 2}, Case{"roberta-tiny-random", 2},
                                           Case{"distilbert-tiny-random", 2}, Case{"t5-tiny-random", 6},
                                           Case{"bart-tiny-random", 6}, Case{"dinov2-tiny-random", 2},
                                           Case{"clip-vision-tiny-random", 2}, Case{"wav2vec2-tiny-random", 2},
                                           Case{"qwen3-tiny-random", 3}, Case{"gemma2-tiny-random", 3},
                                           Case{"gemma3_text-tiny-random", 3}, Case{"smollm3-tiny-random", 4},
                                           Case{"olmo2-tiny-random", 2}, Case{"granite-tiny-random", 2},
                                           Case{"starcoder2-tiny-random", 2}, Case{"mixtral-tiny-random", 2},
                                           Case{"qwen2_moe-tiny-random", 3}, Case{"qwen3_moe-tiny-random", 3},
                                           Case{"gpt_oss-tiny-random", 3}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

INSTANTIATE_TEST_SUITE_P(TextFamilies, TokenizerParity,
                         ::testing::Values(Case{"bert-tiny-random", 2}, Case{"gpt2-tiny-random", 2},
                                           Case{"llama-stories260k", 5}, Case{"llama-gqa-random", 2},
                                           Case{"qwen2-tiny-random", 2}, Case{"roberta-tiny-random", 2},
                                           Case{"distilbert-tiny-random", 2}, Case{"qwen3-tiny-random", 3}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(CaptureSelection, LimitsLayersAndHeads) {
  const std::string dir = golden("llama-stories260k");
  auto model = loadModel(dir, "cpu");
  auto expected = readAll(dir + "/expected.safetensors");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  CaptureSelection sel;
  sel.layers = {1, 3};
  sel.heads = {2, 5};
  RunResult r = runModel(*model, in, sel);
  ASSERT_EQ(r.capture->records().size(), 2u);
  const at::Tensor l3 = r.capture->get("self", 3);  // [2, q, k]
  ASSERT_EQ(l3.size(0), 2);
  EXPECT_LT(maxAbsDiff(l3[0], expected["attentions.3"][2]), kAttentionTol);
  EXPECT_LT(maxAbsDiff(l3[1], expected["attentions.3"][5]), kAttentionTol);
  EXPECT_FALSE(r.capture->get("self", 0).defined());
}

TEST(CaptureSelection, RejectsLayersAndHeadsTheModelLacks) {
  auto model = loadModel(golden("llama-gqa-random"), "cpu");
  PreparedInput in = prepareText(*model, "hello");
  CaptureSelection sel;
  sel.layers = {9};
  EXPECT_THROW(runModel(*model, in, sel), InputError);
  sel.layers = {};
  sel.heads = {6};
  EXPECT_THROW(runModel(*model, in, sel), InputError);
}

TEST(CaptureFile, RoundTripsThroughRunContract) {
  const std::string dir = golden("bert-tiny-random");
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  RunResult r = runModel(*model, in);
  TempDir tmp;
  saveCapture(tmp.file("cap.safetensors"), *model, in, r);
  auto file = SafetensorsFile::open(tmp.file("cap.safetensors"));
  for (const char* n : {"attentions.0", "attentions.1", "last_hidden_state", "logits", "input_ids", "token_type_ids"})
    EXPECT_TRUE(file->has(n)) << n;
  EXPECT_EQ(file->entry("attentions.0").dtype, "F32");
  const auto meta = nlohmann::json::parse(file->metadata().at("attnscope"));
  EXPECT_EQ(meta["family"], "bert");
  EXPECT_EQ(meta["tokens"].size(), 29u);
  EXPECT_EQ(meta["tokens"][0], "[CLS]");
  EXPECT_EQ(meta["prediction"]["task"], "classification");
  // Feeding the capture back as --inputs reproduces it bit for bit.
  PreparedInput again = prepareInputsFile(*model, tmp.file("cap.safetensors"));
  RunResult r2 = runModel(*model, again);
  EXPECT_TRUE(r2.capture->get("self", 1).equal(file->tensor("attentions.1")));
}

}  // namespace
