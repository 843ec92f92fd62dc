// The per-step KL of a generation under a variant: each step's KL(full ‖ variant) equals the KL between two fresh
// forwards without a cache (the full model and the variant on the same prefix), the full model's top token is that
// forward's argmax; a variant that changes nothing gives 0 everywhere; `full` and no variant give no timeline; the
// CLI prints and stores it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/SafetensorsFile.h"
#include "attnscope/Variant.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

/// log p(next | ids) from one forward over the whole prefix (no cache).
at::Tensor nextLogProbs(LoadedModel& m, const std::vector<int64_t>& ids, const AttentionVariant* variant) {
  TensorMap in;
  in["input_ids"] = at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())});  // [1, T]
  ForwardOptions options;
  options.variant = variant;
  const at::Tensor logits = m.model->forward(in, options).at("logits");  // [T, V]
  return at::log_softmax(logits[logits.size(0) - 1].to(at::kDouble), -1);  // [V]
}

TEST(GenerationKl, EachStepEqualsFreshForwardsOfBothModels) {
  auto model = loadModel(realModel("stories260K"), "cpu");
  const PreparedInput prompt = prepareText(*model, "Once upon a time, there was a little girl named Lily");
  auto window = makeVariant("window:w=3");
  window->prepare(*model, prompt);
  const GenerateResult g = generate(*model, prompt, 10, {}, nullptr, window.get());
  const size_t steps = g.ids.size() - static_cast<size_t>(g.promptLength);
  ASSERT_EQ(g.stepKl.size(), steps);
  ASSERT_EQ(g.fullTop1.size(), steps);
  int disagreements = 0;
  for (size_t s = 0; s < steps; ++s) {
    const std::vector<int64_t> prefix(g.ids.begin(), g.ids.begin() + g.promptLength + static_cast<int64_t>(s));
    const at::Tensor p = nextLogProbs(*model, prefix, nullptr), q = nextLogProbs(*model, prefix, window.get());
    const double kl = (p.exp() * (p - q)).sum().item<double>();
    EXPECT_NEAR(g.stepKl[s], kl, 1e-4 + 1e-4 * kl) << "step " << s + 1;
    EXPECT_EQ(g.fullTop1[s], p.argmax().item<int64_t>()) << "step " << s + 1;
    EXPECT_EQ(g.ids[static_cast<size_t>(g.promptLength) + s], q.argmax().item<int64_t>()) << "the variant's choice";
    disagreements += g.fullTop1[s] != g.ids[static_cast<size_t>(g.promptLength) + s];
  }
  EXPECT_GT(disagreements, 0) << "window:w=3 changes some of stories260K's choices on this prompt";
  const nlohmann::json j = stepKlJson(*model, g);
  ASSERT_EQ(j.size(), steps);
  EXPECT_EQ(j[0]["step"], 1);
  EXPECT_EQ(j[0]["token"], ".");

  // A window wider than the text changes nothing: KL 0 and the same tokens at every step.
  auto wide = makeVariant("window:w=4096");
  wide->prepare(*model, prompt);
  const GenerateResult same = generate(*model, prompt, 6, {}, nullptr, wide.get());
  ASSERT_EQ(same.stepKl.size(), 6u);
  for (size_t s = 0; s < 6; ++s) {
    EXPECT_NEAR(same.stepKl[s], 0.0, 1e-9);
    EXPECT_EQ(same.fullTop1[s], same.ids[static_cast<size_t>(same.promptLength) + s]);
  }
  // No variant, or `full`: no timeline.
  EXPECT_TRUE(generate(*model, prompt, 3).stepKl.empty());
  auto full = makeVariant("full");
  EXPECT_TRUE(generate(*model, prompt, 3, {}, nullptr, full.get()).stepKl.empty());
}

TEST(GenerationKl, CliPrintsAndStoresTheTimeline) {
  TempDir tmp;
  const CommandResult r = runCommand(std::string(ATTNSCOPE_CLI_PATH) + " generate --model " +
                                     realModel("stories260K") +
                                     " --text 'Once upon a time, there was a little girl named Lily' --max-new-tokens 8"
                                     " --variant sink:n=1,w=3 --out " + tmp.file("g.safetensors"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("KL(full||sink:n=1,w=3)"), std::string::npos) << r.output;
  auto file = SafetensorsFile::open(tmp.file("g.safetensors"));
  const nlohmann::json meta = nlohmann::json::parse(file->metadata().at("attnscope"));
  ASSERT_TRUE(meta.contains("variant_kl"));
  ASSERT_EQ(meta["variant_kl"].size(), 8u);
  for (const auto& s : meta["variant_kl"]) {
    EXPECT_GE(s["kl"].get<double>(), 0.0);
    EXPECT_EQ(s["agree"].get<bool>(), s["token"] == s["full_top1"]);
  }
}

}  // namespace
