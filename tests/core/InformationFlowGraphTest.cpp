// The information-flow graph (Ferrando & Voita 2024) and ALTI against independent float64 constructions from the
// papers' definitions (tests/scripts/flow_graph_reference.py for decoders, alti_encoder_reference.py for BERT, ViT
// and KWT; on the golden weights, with the output projection's bias read from the checkpoint rather than derived):
// the same edges, weights within 1e-5, the same top head on every attention edge. Invariants (causality, reachability from the chosen node, weights in
// (threshold, 1]); refusals; the CLI.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/InformationFlowGraph.h"
#include "attnscope/ValueZeroing.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

using EdgeKey = std::tuple<std::string, int, int64_t, int, int64_t>;  // kind, from level, from, to level, to

class FlowGraphGolden : public ::testing::TestWithParam<std::string> {};

/// Checks \p g against one graph of a reference file: the same edges, weights within 1e-5, the same top head.
void expectGraphEquals(const InformationFlowGraph& g, const nlohmann::json& ref, const std::string& name) {
  std::map<EdgeKey, const FlowEdge*> ours;
  for (const FlowEdge& e : g.edges) ours[{e.kind, e.fromLevel, e.from, e.toLevel, e.to}] = &e;
  ASSERT_EQ(ours.size(), g.edges.size()) << "an edge twice";
  ASSERT_EQ(g.edges.size(), ref["edges"].size()) << name << " position " << ref["position"];
  for (const auto& e : ref["edges"]) {
    const EdgeKey key{e["kind"], e["from_level"], e["from"], e["to_level"], e["to"]};
    ASSERT_TRUE(ours.count(key)) << name << " missing " << e.dump();
    const FlowEdge& o = *ours[key];
    EXPECT_EQ(o.layer, e["layer"].get<int>());
    EXPECT_NEAR(o.weight, e["weight"].get<double>(), 1e-5) << name << " " << e.dump();
    if (o.kind == "attention") {
      ASSERT_FALSE(o.heads.empty());
      EXPECT_EQ(o.heads.front().first, e["top_head"].get<int>()) << name << " " << e.dump();
      EXPECT_NEAR(o.heads.front().second, e["top_head_weight"].get<double>(), 1e-5) << name << " " << e.dump();
    }
  }
}

/// Checks an ALTI row against the reference's scores (within \p tolerance) and that it sums to 1.
void expectRowEquals(const std::vector<double>& ours, const nlohmann::json& ref, const std::string& name,
                     double tolerance) {
  const auto expected = ref["scores"].get<std::vector<double>>();
  ASSERT_EQ(ours.size(), expected.size());
  double sum = 0;
  for (size_t j = 0; j < ours.size(); ++j) {
    EXPECT_NEAR(ours[j], expected[j], tolerance) << name << " position " << ref["position"] << " source " << j;
    sum += ours[j];
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
}

TEST_P(FlowGraphGolden, EdgesAndWeightsEqualTheIndependentConstruction) {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/flow_graph_reference.json");
  const nlohmann::json cases = nlohmann::json::parse(f).at(GetParam());
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  for (const auto& ref : cases)
    expectGraphEquals(informationFlowGraph(*model, in, ref["position"], ref["threshold"]), ref, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Families, FlowGraphGolden,
                         ::testing::Values("gpt2-tiny-random", "llama-gqa-random", "llama-stories260k",
                                           "qwen2-tiny-random", "gemma-tiny-random", "gpt_neox-tiny-random"));

/// ALTI over the same decomposition: each position's row equals the independent float64 construction.
TEST_P(FlowGraphGolden, AltiEqualsTheIndependentConstruction) {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/alti_reference.json");
  const nlohmann::json cases = nlohmann::json::parse(f).at(GetParam());
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  for (const auto& ref : cases) {
    const std::vector<double> ours = altiAttribution(*model, in, ref["position"].get<int64_t>());
    expectRowEquals(ours, ref, GetParam(), 1e-5);
    const int64_t p = ref["position"];
    for (size_t j = static_cast<size_t>(p) + 1; j < ours.size(); ++j) EXPECT_EQ(ours[j], 0.0);  // causal
  }
}

/// Encoders and image/audio models (tests/scripts/alti_encoder_reference.py): BERT and KWT are post-LN, so every
/// step's LayerNorm is linearised at the row's sum; ViT is pre-LN without a token head; the encoder–decoder models
/// are decomposed over their encoder stack (T5 pre-RMSNorm with its relative bias, BART post-LN, Whisper pre-LN
/// after its convolutions). ALTI rows and graphs equal the independent float64 construction; the default position of
/// an encoder is its first ([CLS]).
class FlowGraphEncoder : public ::testing::TestWithParam<std::string> {};

TEST_P(FlowGraphEncoder, AltiAndGraphEqualTheIndependentConstruction) {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/alti_encoder_reference.json");
  const nlohmann::json ref = nlohmann::json::parse(f).at(GetParam());
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  // KWT's 12 post-LN layers run from the golden MFCC features; the float32 forward drifts more than the 2-layer ones.
  const double tolerance = GetParam() == "kwt1-audio" ? 1e-4 : 1e-5;
  for (const auto& row : ref["alti"])
    expectRowEquals(altiAttribution(*model, in, row["position"].get<int64_t>()), row, GetParam(), tolerance);
  EXPECT_EQ(altiAttribution(*model, in), altiAttribution(*model, in, 0));
  for (const auto& graph : ref["graphs"])
    expectGraphEquals(informationFlowGraph(*model, in, graph["position"], graph["threshold"]), graph, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Encoders, FlowGraphEncoder,
                         ::testing::Values("bert-tiny-random", "vit-tiny-random", "kwt1-audio", "t5-tiny-random",
                                           "bart-tiny-random", "whisper-tiny-random"));

/// Value zeroing (Mohebbi et al. 2023): each row equals the independent float64 reruns with zeroed values.
TEST(ValueZeroing, EqualsTheIndependentReruns) {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/value_zeroing_reference.json");
  const nlohmann::json all = nlohmann::json::parse(f);
  ASSERT_EQ(all.size(), 3u);
  for (const auto& [name, cases] : all.items()) {
    auto model = loadModel(golden(name), "cpu");
    const PreparedInput in = prepareInputsFile(*model, golden(name) + "/expected.safetensors");
    for (const auto& ref : cases) {
      const std::vector<double> ours = valueZeroingAttribution(*model, in, ref["position"].get<int64_t>());
      const auto expected = ref["scores"].get<std::vector<double>>();
      ASSERT_EQ(ours.size(), expected.size());
      double sum = 0;
      for (size_t j = 0; j < ours.size(); ++j) {
        EXPECT_NEAR(ours[j], expected[j], 1e-4) << name << " position " << ref["position"] << " source " << j;
        sum += ours[j];
      }
      EXPECT_NEAR(sum, 1.0, 1e-9);
    }
  }
  // An encoder (BERT, post-norm): rows still sum to 1, [CLS] by default.
  auto bert = loadModel(golden("bert-tiny-random"), "cpu");
  const std::vector<double> cls = valueZeroingAttribution(
      *bert, prepareInputsFile(*bert, golden("bert-tiny-random") + "/expected.safetensors"));
  double sum = 0;
  for (double v : cls) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-9);
  // An encoder–decoder model: the encoder stack's rows (20 source tokens, not the 12 decoder positions).
  auto t5 = loadModel(golden("t5-tiny-random"), "cpu");
  const std::vector<double> source =
      valueZeroingAttribution(*t5, prepareInputsFile(*t5, golden("t5-tiny-random") + "/expected.safetensors"));
  ASSERT_EQ(source.size(), 20u);
  sum = 0;
  for (double v : source) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-9);
}

TEST(FlowGraph, EdgesAreCausalReachableAndAboveTheThreshold) {
  auto model = loadModel(realModel("stories260K"), "cpu");
  const PreparedInput in = prepareText(*model, "Once upon a time, there was a little girl named Lily.");
  const int L = model->model->info().layers;
  const InformationFlowGraph g = informationFlowGraph(*model, in, -1, 0.05);
  const int64_t top = static_cast<int64_t>(in.labels.size()) - 1;
  EXPECT_EQ(g.position, top);
  std::set<std::pair<int, int64_t>> reached = {{2 * L, top}};
  // Edges come top-down: every edge ends at a node already reached from the top.
  int attention = 0;
  for (const FlowEdge& e : g.edges) {
    EXPECT_TRUE(reached.count({e.toLevel, e.to})) << e.kind << " " << e.toLevel << ":" << e.to;
    EXPECT_EQ(e.toLevel, e.fromLevel + 1);
    EXPECT_GE(e.weight, 0.05);
    EXPECT_LE(e.weight, 1.0 + 1e-12);
    EXPECT_LE(e.from, e.to);  // causal: nothing flows from a later position
    if (e.kind != "attention")
      EXPECT_EQ(e.from, e.to);
    else
      ++attention;
    reached.insert({e.fromLevel, e.from});
  }
  EXPECT_GT(attention, 0);
  // A lower threshold keeps every edge of a higher one.
  const InformationFlowGraph wide = informationFlowGraph(*model, in, -1, 0.02);
  EXPECT_GT(wide.edges.size(), g.edges.size());
  // Raising the threshold of a computed graph gives exactly the graph computed at that threshold.
  const InformationFlowGraph raised = withThreshold(wide, 0.05);
  ASSERT_EQ(raised.edges.size(), g.edges.size());
  for (size_t i = 0; i < g.edges.size(); ++i) {
    EXPECT_EQ(raised.edges[i].kind, g.edges[i].kind);
    EXPECT_EQ(raised.edges[i].from, g.edges[i].from);
    EXPECT_EQ(raised.edges[i].to, g.edges[i].to);
    EXPECT_EQ(raised.edges[i].fromLevel, g.edges[i].fromLevel);
    EXPECT_DOUBLE_EQ(raised.edges[i].weight, g.edges[i].weight);
  }
  EXPECT_THROW(informationFlowGraph(*model, in, 99), InputError);
  EXPECT_THROW(informationFlowGraph(*model, in, -1, 0.0), InputError);
  // An encoder–decoder model is traced through its encoder: the positions are the source tokens.
  auto t5 = loadModel(golden("t5-tiny-random"), "cpu");
  const PreparedInput tin = prepareInputsFile(*t5, golden("t5-tiny-random") + "/expected.safetensors");
  const InformationFlowGraph tg = informationFlowGraph(*t5, tin);
  EXPECT_EQ(tg.positions, tin.sequenceLabels.at("encoder"));
  EXPECT_EQ(tg.layers, 2);
  EXPECT_THROW(informationFlowGraph(*t5, tin, 20), InputError);  // 20 source tokens: 0..19
}

TEST(FlowGraph, CliWritesTheGraphAndAFigure) {
  TempDir tmp;
  const std::string out = tmp.file("graph.json"), fig = tmp.file("graph.pdf");
  const CommandResult r =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " flow-graph --model " + realModel("stories260K") +
                 " --text 'Once upon a time' --token -1 --threshold 0.05 --out " + out + figureOption(fig));
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream f(out);
  const nlohmann::json doc = nlohmann::json::parse(f);
  EXPECT_EQ(doc["method"], "flow-graph");
  EXPECT_EQ(doc["threshold"], 0.05);
  EXPECT_FALSE(doc["edges"].empty());
  for (const auto& e : doc["edges"]) EXPECT_GE(e["weight"].get<double>(), 0.05);
  if (kCliDrawsFigures) EXPECT_EQ(slurp(fig).substr(0, 4), "%PDF");
  const CommandResult bad =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " flow-graph --model " + realModel("stories260K") +
                 " --text 'Once' --threshold 2 --out " + tmp.file("x.json"));
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("x.json")));
}

}  // namespace
