// Deletion curves: the endpoints (nothing removed = the model's own probability of the target; everything
// removable removed = the model on what is left, the same for every token method; every head pruned = the
// same for every head method), the orders (the method's ranking, most important first; seeded random orders
// repeat), the area under the curve, refusals, and the CLI.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Analysis.h"
#include "attnscope/DeletionCurve.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Tokenizer.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

const char* const kText = "Once upon a time, there was a little girl named Lily.";

/// p(target) at the last position of \p ids, through the engine's ordinary run.
double probabilityOf(LoadedModel& m, const std::vector<int64_t>& ids, int64_t target) {
  PreparedInput in;
  in.tensors["input_ids"] = at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())});
  in.labels.assign(ids.size(), "x");
  const RunResult r = runModel(m, in);
  const at::Tensor logits = r.outputs.at("logits");  // [T, V]
  return at::softmax(logits[logits.size(0) - 1].to(at::kDouble), 0)[target].item<double>();
}

TEST(Deletion, EndpointsOrdersAndArea) {
  auto model = loadModel(realModel("stories260K"), "cpu");
  const PreparedInput in = prepareText(*model, kText);
  const DeletionResult r = deletionCurves(
      *model, in, {"rollout", "flow", "attention", "random", "dla", "random-heads", "alti", "value-zeroing"},
      "", 5, 7);
  const at::Tensor ids = in.tensors.at("input_ids").reshape({-1});
  std::vector<int64_t> all(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  const double p0 = probabilityOf(*model, all, r.targetId);
  EXPECT_NEAR(r.probability, p0, 1e-6);
  // <s> is special and the last position stays: what is left when everything removable is gone.
  ASSERT_TRUE(model->tokenizer->isSpecial(all.front()));
  EXPECT_EQ(r.removable, static_cast<int>(all.size()) - 2);
  const double pLeft = probabilityOf(*model, {all.front(), all.back()}, r.targetId);
  ASSERT_EQ(r.curves.size(), 8u);
  double headsEnd = -1;
  for (const DeletionCurve& c : r.curves) {
    ASSERT_EQ(c.fractions.size(), 6u) << c.method;
    EXPECT_EQ(c.fractions.front(), 0.0);
    EXPECT_EQ(c.fractions.back(), 1.0);
    EXPECT_NEAR(c.probabilities.front(), p0, 1e-6) << c.method;
    if (c.unit == "tokens") {
      EXPECT_NEAR(c.probabilities.back(), pLeft, 1e-6) << c.method;
      EXPECT_EQ(static_cast<int>(c.order.size()), r.removable);
    } else {
      EXPECT_EQ(static_cast<int>(c.order.size()), model->model->info().layers * model->model->info().heads);
      if (headsEnd < 0) headsEnd = c.probabilities.back();
      EXPECT_NEAR(c.probabilities.back(), headsEnd, 1e-9) << "every head pruned, whatever the order";
    }
    double area = 0;
    for (size_t i = 1; i < c.fractions.size(); ++i)
      area += (c.fractions[i] - c.fractions[i - 1]) * (c.probabilities[i] + c.probabilities[i - 1]) / 2;
    EXPECT_NEAR(c.auc, area, 1e-12);
  }
  // Rollout's first removal is the removable position the last one draws on most.
  const RunResult run = runModel(*model, in);
  std::vector<at::Tensor> layers;
  for (const auto& [key, probs] : run.capture->records()) layers.push_back(probs);
  const at::Tensor row = attentionRollout(layers)[ids.numel() - 1];
  int64_t best = 1;
  for (int64_t j = 1; j + 1 < ids.numel(); ++j)
    if (row[j].item<float>() > row[best].item<float>()) best = j;
  EXPECT_EQ(r.curves[0].order.front().substr(0, r.curves[0].order.front().find(':')), std::to_string(best));
  // The same seed repeats the random order; another changes it.
  const DeletionResult again = deletionCurves(*model, in, {"random"}, "", 5, 7);
  const DeletionResult other = deletionCurves(*model, in, {"random"}, "", 5, 8);
  EXPECT_EQ(again.curves[0].order, r.curves[3].order);
  EXPECT_NE(other.curves[0].order, r.curves[3].order);
}

TEST(Deletion, Refusals) {
  auto bert = loadModel(golden("bert-tiny-random"), "cpu");
  EXPECT_THROW(
      deletionCurves(*bert, prepareInputsFile(*bert, golden("bert-tiny-random") + "/expected.safetensors"),
                     {"rollout"}),
      InputError);
  auto model = loadModel(realModel("stories260K"), "cpu");
  const PreparedInput in = prepareText(*model, kText);
  EXPECT_THROW(deletionCurves(*model, in, {"saliency"}), InputError);
  EXPECT_THROW(deletionCurves(*model, in, {"rollout"}, "", 0), InputError);
  EXPECT_THROW(deletionCurves(*model, in, {}), InputError);
}

TEST(Deletion, CliWritesCurvesAndAFigure) {
  TempDir tmp;
  const std::string out = tmp.file("curve.json"), fig = tmp.file("curve.svg");
  const CommandResult r = runCommand(
      std::string(ATTNSCOPE_CLI_PATH) + " deletion --model " + realModel("stories260K") + " --text '" +
      kText + "' --methods rollout,random --steps 4 --out " + out + figureOption(fig));
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream f(out);
  const nlohmann::json doc = nlohmann::json::parse(f);
  ASSERT_EQ(doc["curves"].size(), 2u);
  EXPECT_EQ(doc["curves"][0]["fractions"].size(), 5u);
  EXPECT_NEAR(doc["curves"][0]["probabilities"][0].get<double>(), doc["p"].get<double>(), 1e-12);
  EXPECT_NE(r.output.find("AUC"), std::string::npos);
  if (kCliDrawsFigures) EXPECT_NE(slurp(fig).find("<svg"), std::string::npos);
  const CommandResult bad =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " deletion --model " + realModel("stories260K") +
                 " --text 'Once' --methods saliency --out " + tmp.file("x.json"));
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("x.json")));
}

}  // namespace
