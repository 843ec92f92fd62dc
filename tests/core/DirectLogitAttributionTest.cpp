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

nlohmann::json reference() {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/dla_reference.json");
  return nlohmann::json::parse(f);
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
                                           "qwen2-tiny-random", "gemma-tiny-random", "gpt_neox-tiny-random"));

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

}  // namespace
