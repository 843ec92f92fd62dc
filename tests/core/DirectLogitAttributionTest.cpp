// Direct logit attribution: the target logit split into the embeddings, every head, every MLP and the biases
// with the final norm's scale frozen at the actual residual. Each part equals an independent float64
// re-implementation (tests/scripts/dla_reference.py, which checks its own forward against the golden Hugging
// Face logits) on the golden weights at two positions; the parts add up to the model's own logit; a pruned
// head contributes 0; models whose residual stream is not a sum of writes are refused; the CLI's attribute
// --method dla writes the same JSON.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/DirectLogitAttribution.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Variant.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

/// Both references: dla_reference.py (decoder-only models) and dla_seq2seq_reference.py (the decoders of T5 and
/// Whisper, with their cross-attention heads).
nlohmann::json reference() {
  nlohmann::json all = nlohmann::json::object();
  for (const char* name : {"dla_reference.json", "dla_seq2seq_reference.json"}) {
    std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/" + name);
    all.update(nlohmann::json::parse(f));
  }
  return all;
}

double part(const DirectLogitAttribution& d, const std::string& name) {
  return toJson(d)["parts"].at(name).get<double>();
}

class DlaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(DlaGolden, EveryPartEqualsTheIndependentReferenceAndTheyAddUpToTheLogit) {
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  const nlohmann::json cases = reference().at(GetParam());
  ASSERT_EQ(cases.size(), 2u);
  for (const auto& ref : cases) {
    const int64_t position = ref["position"];
    // The reference's target is the predicted token: the default target must find the same one.
    const DirectLogitAttribution dla = directLogitAttribution(*model, in, position);
    ASSERT_EQ(dla.targetId, ref["target_id"].get<int64_t>()) << GetParam() << " position " << position;
    EXPECT_TRUE(dla.predicted);
    const double logit = ref["logit"];
    EXPECT_NEAR(dla.logit, logit, 1e-4 + 1e-5 * std::abs(logit));
    EXPECT_NEAR(dla.sum(), dla.logit, 1e-4) << GetParam();
    const nlohmann::json ours = toJson(dla)["parts"];
    ASSERT_EQ(ours.size(), ref["parts"].size());
    double spread = 0;
    for (const auto& [name, value] : ref["parts"].items()) {
      ASSERT_TRUE(ours.contains(name)) << name;
      EXPECT_NEAR(ours[name].get<double>(), value.get<double>(), 1e-4 + 1e-5 * std::abs(logit))
          << GetParam() << " position " << position << " part " << name;
      spread = std::max(spread, std::abs(value.get<double>()));
    }
    EXPECT_GT(spread,
              1e-3);  // the reference's parts are not all ~0 (the comparison could not pass vacuously)
    EXPECT_NEAR(toJson(dla)["sum"].get<double>(), dla.logit, 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, DlaGolden,
                         ::testing::Values("gpt2-tiny-random", "llama-gqa-random", "llama-stories260k",
                                           "qwen2-tiny-random", "gemma-tiny-random", "gpt_neox-tiny-random",
                                           "t5-tiny-random", "whisper-tiny-random"));

/// Encoder–decoder models: the decoder's positions, its stack, and a cross-attention grid beside the self-attention
/// one; a cross head pruned contributes 0 and the rest still add up.
TEST(Dla, EncoderDecoderModelsSplitTheDecoderWithItsCrossAttentionHeads) {
  for (const std::string name : {"t5-tiny-random", "whisper-tiny-random"}) {
    auto model = loadModel(golden(name), "cpu");
    const PreparedInput in = prepareInputsFile(*model, golden(name) + "/expected.safetensors");
    const auto decoder = stackLabels(in, "decoder").first;
    ASSERT_NE(decoder.size(), stackLabels(in, "encoder").first.size()) << name;
    const DirectLogitAttribution dla = directLogitAttribution(*model, in);
    EXPECT_EQ(dla.stack, "decoder");
    EXPECT_EQ(dla.position, static_cast<int64_t>(decoder.size()) - 1) << name;
    EXPECT_EQ(dla.positionLabel, decoder.back());
    ASSERT_EQ(dla.crossHeads.size(), dla.heads.size());
    const nlohmann::json doc = toJson(dla);
    EXPECT_EQ(doc["stack"], "decoder");
    EXPECT_EQ(doc["cross_heads"].get<size_t>(), dla.crossHeads[0].size());
    EXPECT_EQ(doc["parts"].size(), 2u + doc["layers"].get<size_t>() * (doc["heads"].get<size_t>() +
                                                                          doc["cross_heads"].get<size_t>() + 1));
    EXPECT_THROW(directLogitAttribution(*model, in, static_cast<int64_t>(decoder.size())), InputError) << name;
  }
  auto t5 = loadModel(golden("t5-tiny-random"), "cpu");
  const PreparedInput in = prepareInputsFile(*t5, golden("t5-tiny-random") + "/expected.safetensors");
  const DirectLogitAttribution full = directLogitAttribution(*t5, in, -1, "#9");
  // prune:heads=L1H2 removes head 2 of layer 1 in every stack: the decoder's and the cross-attention's.
  auto prune = makeVariant("prune:heads=L1H2");
  prune->prepare(*t5, in);
  const DirectLogitAttribution pruned = directLogitAttribution(*t5, in, -1, "#9", prune.get());
  EXPECT_GT(std::abs(full.crossHeads[1][2]), 1e-4);
  EXPECT_EQ(pruned.crossHeads[1][2], 0.0);
  EXPECT_EQ(pruned.heads[1][2], 0.0);
  EXPECT_NEAR(pruned.sum(), pruned.logit, 1e-4);
  // Decoder-only models have no cross-attention grid and no cross parts.
  auto llama = loadModel(golden("llama-gqa-random"), "cpu");
  const PreparedInput lin = prepareInputsFile(*llama, golden("llama-gqa-random") + "/expected.safetensors");
  const nlohmann::json own = toJson(directLogitAttribution(*llama, lin));
  EXPECT_EQ(own["stack"], "self");
  EXPECT_EQ(own["cross_heads"], 0);
}

/// Families without a Python reference: the parts still add up to the logit (a missed write would not).
TEST(Dla, PartsAddUpForEveryOtherDecoder) {
  for (const std::string name : {"mistral-tiny-random", "phi3-tiny-random", "opt-tiny-random"}) {
    auto model = loadModel(golden(name), "cpu");
    const PreparedInput in = prepareInputsFile(*model, golden(name) + "/expected.safetensors");
    for (int64_t position : {int64_t(-1), int64_t(2)}) {
      const DirectLogitAttribution dla = directLogitAttribution(*model, in, position, "#5");
      EXPECT_EQ(dla.targetId, 5);
      EXPECT_NEAR(dla.sum(), dla.logit, 1e-4) << name << " position " << position;
      EXPECT_GT(std::abs(dla.heads[0][0] - dla.heads[0][1]), 1e-7) << name;
    }
  }
}

TEST(Dla, APrunedHeadContributesNothingAndTheRestStillAddUp) {
  auto model = loadModel(golden("llama-gqa-random"), "cpu");
  const PreparedInput in = prepareInputsFile(*model, golden("llama-gqa-random") + "/expected.safetensors");
  const DirectLogitAttribution full = directLogitAttribution(*model, in, -1, "#454");
  auto prune = makeVariant("prune:heads=L1H2");
  prune->prepare(*model, in);
  const DirectLogitAttribution pruned = directLogitAttribution(*model, in, -1, "#454", prune.get());
  EXPECT_GT(std::abs(full.heads[1][2]), 1e-4);
  EXPECT_EQ(pruned.heads[1][2], 0.0);
  EXPECT_NEAR(pruned.sum(), pruned.logit, 1e-4);
  EXPECT_GT(std::abs(pruned.logit - full.logit), 1e-5);
  // Layer 0 writes the same as before; only the frozen norm scale (of the changed final residual) differs,
  // and it scales every unchanged part alike (RMSNorm: no centring). (A variant takes the unchunked attention
  // path: float rounding differs by ~1e-6 relative.)
  const double ratio = part(pruned, "L0H1") / part(full, "L0H1");
  EXPECT_GT(std::abs(ratio - 1.0), 1e-3);
  for (const std::string name : {"embed", "L0H0", "L0H3", "L0.mlp"})
    EXPECT_NEAR(part(pruned, name) / part(full, name), ratio, 1e-5) << name;
}

TEST(Dla, RefusesModelsAndPositionsItCannotSplit) {
  // BART's layers renormalise the residual stream (post-LN): no exact split of its decoder.
  auto bart = loadModel(golden("bart-tiny-random"), "cpu");
  const PreparedInput bartIn = prepareInputsFile(*bart, golden("bart-tiny-random") + "/expected.safetensors");
  EXPECT_THROW(directLogitAttribution(*bart, bartIn), InputError);
  auto bert = loadModel(golden("bert-tiny-random"), "cpu");
  const PreparedInput bin = prepareInputsFile(*bert, golden("bert-tiny-random") + "/expected.safetensors");
  try {
    directLogitAttribution(*bert, bin);
    FAIL() << "a post-norm classifier was split";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("pre-norm"), std::string::npos) << e.what();
  }
  auto llama = loadModel(golden("llama-gqa-random"), "cpu");
  const PreparedInput in = prepareInputsFile(*llama, golden("llama-gqa-random") + "/expected.safetensors");
  EXPECT_THROW(directLogitAttribution(*llama, in, 999), InputError);
  EXPECT_THROW(directLogitAttribution(*llama, in, -1, "#100000"), InputError);
}

TEST(Dla, CliAttributeWritesThePartsAndAFigure) {
  TempDir tmp;
  const std::string out = tmp.file("dla.json"), fig = tmp.file("dla.svg");
  const CommandResult r =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method dla --model " +
                 realModel("stories260K") + " --text 'Once upon a time' --out " + out + figureOption(fig));
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream f(out);
  const nlohmann::json doc = nlohmann::json::parse(f);
  double sum = 0;
  for (const auto& [name, value] : doc["parts"].items()) sum += value.get<double>();
  EXPECT_NEAR(sum, doc["logit"].get<double>(), 1e-4);
  EXPECT_EQ(doc["parts"].size(), 1u + doc["layers"].get<size_t>() * (doc["heads"].get<size_t>() + 1) + 1u);
  EXPECT_TRUE(doc["predicted"].get<bool>());
  if (kCliDrawsFigures) EXPECT_NE(slurp(fig).find("<svg"), std::string::npos);
  const CommandResult bad =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method dla --model " +
                 golden("bert-tiny-random") + " --text 'hello' --out " + tmp.file("x.json"));
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("pre-norm"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("x.json")));
}

TEST(Dla, CliSplitsAnEncoderDecoderModelsDecoder) {
  TempDir tmp;
  const std::string t5 = golden("t5-tiny-random"), out = tmp.file("t5.json"), fig = tmp.file("t5.svg");
  const CommandResult r = runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method dla --model " + t5 +
                                     " --inputs " + t5 + "/expected.safetensors --position 6 --out " + out +
                                     figureOption(fig));
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json doc = nlohmann::json::parse(slurp(out));
  EXPECT_EQ(doc["stack"], "decoder");
  EXPECT_EQ(doc["position"], 6);
  EXPECT_EQ(doc["cross_heads"], 4);
  // The independent reference's parts of the same position.
  const nlohmann::json ref = reference().at("t5-tiny-random").at(1);
  ASSERT_EQ(ref["position"], 6);
  EXPECT_EQ(doc["target_id"], ref["target_id"]);
  for (const char* name : {"L0.cross.H0", "L1.cross.H2", "L1H0", "L1.mlp", "embed"})
    EXPECT_NEAR(doc["parts"][name].get<double>(), ref["parts"][name].get<double>(), 1e-4) << name;
  double sum = 0;
  for (const auto& [name, value] : doc["parts"].items()) sum += value.get<double>();
  EXPECT_NEAR(sum, doc["logit"].get<double>(), 1e-4);
  if (kCliDrawsFigures) EXPECT_NE(slurp(fig).find("cross-attention"), std::string::npos);
  // --decoder-text needs an encoder's text to go with.
  const CommandResult audio = runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method dla --model " +
                                         golden("whisper-tiny-random") + " --audio " + tmp.file("none.wav") +
                                         " --decoder-text 'x' --out " + tmp.file("w.json"));
  EXPECT_EQ(audio.status, 2) << audio.output;
  EXPECT_NE(audio.output.find("--decoder-text goes with --text"), std::string::npos) << audio.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("w.json")));
}

}  // namespace
