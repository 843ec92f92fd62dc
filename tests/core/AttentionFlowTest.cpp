// Attention flow (Abnar & Zuidema 2020) against networkx's Edmonds-Karp run the way the paper's code runs it
// (tests/scripts/flow_reference.py: a hand-checkable case and seeded random full and causal attentions,
// inputs and expectations in one JSON file); invariants on a real model; the CLI's attribute --method
// flow|rollout.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Analysis.h"
#include "attnscope/Engine.h"
#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

at::Tensor fromJson(const nlohmann::json& nested) {
  const auto layers = nested.size(), heads = nested[0].size(), T = nested[0][0].size();
  std::vector<double> flat;
  for (const auto& l : nested)
    for (const auto& h : l)
      for (const auto& row : h)
        for (const auto& v : row) flat.push_back(v.get<double>());
  return at::tensor(flat, at::kDouble)
      .view({static_cast<int64_t>(layers), static_cast<int64_t>(heads), static_cast<int64_t>(T),
             static_cast<int64_t>(T)});
}

TEST(AttentionFlow, EqualsNetworkxMaxFlowAsThePapersCodeComputesIt) {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/flow_reference.json");
  const nlohmann::json ref = nlohmann::json::parse(f);
  ASSERT_EQ(ref["cases"].size(), 4u);
  for (const auto& c : ref["cases"]) {
    const at::Tensor att = fromJson(c["attention"]);  // [layers, heads, T, T]
    std::vector<at::Tensor> layers;
    for (int64_t l = 0; l < att.size(0); ++l) layers.push_back(att[l].to(at::kFloat));
    const at::Tensor flow = attentionFlow(layers, c["query"].get<int64_t>());  // [T]
    const auto expected = c["flow"].get<std::vector<double>>();
    ASSERT_EQ(flow.size(0), static_cast<int64_t>(expected.size()));
    for (size_t j = 0; j < expected.size(); ++j)
      EXPECT_NEAR(flow[static_cast<int64_t>(j)].item<double>(), expected[j], 1e-6)
          << c["name"] << " position " << j;
    EXPECT_NEAR(flow.sum().item<double>(), 1.0, 1e-12);
  }
}

TEST(AttentionFlow, DiffersFromRolloutAndRespectsCausality) {
  auto model = loadModel(realModel("stories260K"), "cpu");
  const PreparedInput in = prepareText(*model, "Once upon a time, there was a little girl named Lily.");
  const RunResult r = runModel(*model, in);
  std::vector<at::Tensor> layers;
  for (const auto& [key, probs] : r.capture->records())
    if (key.first == "self") layers.push_back(probs);
  const int64_t T = layers.front().size(-1), q = T / 2;
  const at::Tensor flow = attentionFlow(layers, q);                        // [T]
  const at::Tensor rollout = attentionRollout(layers)[q].to(at::kDouble);  // [T]
  EXPECT_NEAR(flow.sum().item<double>(), 1.0, 1e-9);
  EXPECT_GE(flow.min().item<double>(), 0.0);
  EXPECT_EQ(flow.narrow(0, q + 1, T - q - 1).abs().max().item<double>(),
            0.0);                                                // no flow from later positions
  EXPECT_GT((flow - rollout).abs().max().item<double>(), 1e-3);  // a different method, not rollout again
  EXPECT_THROW(attentionFlow(layers, T), InputError);
  EXPECT_THROW(attentionFlow({}, 0), InputError);
}

/// The Aggregates tab's "flow" matrix: row q is attentionFlow() of the layers up to the chosen one; a long
/// input kept as queries and keys is refused with a message.
TEST(AttentionFlow, AggregateMatrixRowsAreTheFlowOfEachQuery) {
  const auto [probs, qk] = runBothStores("llama-gqa-random");
  for (int layer : {0, 1}) {
    int rows = 0, cols = 0;
    const std::vector<float> m = aggregateAttention(probs, "self", layer, "flow", &rows, &cols);
    std::vector<at::Tensor> layers;
    for (int l = 0; l <= layer; ++l) {
      const AttentionMatrix* a = probs.find("self", l);
      ASSERT_NE(a, nullptr);
      layers.push_back(at::tensor(a->data, at::kFloat).view({a->heads, a->q, a->k}));
    }
    ASSERT_EQ(rows, cols);
    for (int q : {0, rows / 2, rows - 1}) {
      const at::Tensor flow = attentionFlow(layers, q);  // [T]
      for (int j = 0; j < cols; ++j)
        EXPECT_NEAR(m[static_cast<size_t>(q) * cols + j], flow[j].item<double>(), 1e-6)
            << "L" << layer << " q" << q;
    }
  }
  EXPECT_THROW(aggregateRow(qk, "self", 1, "flow", 0), InputError);
}

TEST(AttentionFlow, CliWritesFlowAndRolloutScores) {
  TempDir tmp;
  for (const std::string method : {"flow", "rollout", "alti", "value-zeroing"}) {
    const std::string out = tmp.file(method + ".json");
    const CommandResult r =
        runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method " + method + " --model " +
                   realModel("stories260K") + " --text 'Once upon a time' --position 3 --out " + out);
    ASSERT_EQ(r.status, 0) << r.output;
    std::ifstream f(out);
    const nlohmann::json doc = nlohmann::json::parse(f);
    EXPECT_EQ(doc["method"], method);
    EXPECT_EQ(doc["position"], 3);
    double sum = 0;
    for (const auto& s : doc["scores"]) sum += s["value"].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(doc["scores"][1]["token"], " Once");
  }
  // Token scores as a bar figure (words here).
  const CommandResult fig =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method alti --words --model " +
                 realModel("stories260K") + " --text 'Once upon a time' --out " + tmp.file("w.json") +
                 figureOption(tmp.file("w.svg")));
  ASSERT_EQ(fig.status, 0) << fig.output;
  EXPECT_EQ(nlohmann::json::parse(slurp(tmp.file("w.json")))["scores"][1]["token"], " Once");
  if (kCliDrawsFigures) EXPECT_NE(slurp(tmp.file("w.svg")).find("<svg"), std::string::npos);
  const CommandResult bad =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method saliency --model " +
                 realModel("stories260K") + " --text 'Once' --out " + tmp.file("x.json"));
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("or grad-attn"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("x.json")));
}

}  // namespace
