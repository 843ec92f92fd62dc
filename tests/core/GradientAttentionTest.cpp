// Gradient × attention relevancy (Chefer et al. 2021): every relevance equals an independent float64 computation
// (tests/scripts/grad_attn_reference.py: its own forwards, checked against the golden Hugging Face logits, with
// autograd over the weights and retain_grad on each layer's probabilities) on six golden decoders at two positions and
// on the golden ViT classifier, and the encoder–decoder rules on T5, BART and Whisper; causality and the identity's
// share; with every head pruned the target no longer depends on any attention (R stays the identity); refusals; the
// CLI's JSON and overlays for image and audio.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/GradientAttention.h"
#include "attnscope/Media.h"
#include "attnscope/TokenAttribution.h"
#include "attnscope/Variant.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

nlohmann::json reference() {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/grad_attn_reference.json");
  return nlohmann::json::parse(f);
}

class GradAttnGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GradAttnGolden, EveryRelevanceEqualsTheIndependentAutogradReference) {
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  const nlohmann::json cases = reference().at(GetParam());
  ASSERT_FALSE(cases.empty());
  for (const auto& ref : cases) {
    const int64_t position = ref["position"];
    const GradientAttention g = gradientAttention(*model, in, position);
    ASSERT_EQ(g.targetId, ref["target_id"].get<int64_t>()) << GetParam() << " position " << position;
    EXPECT_TRUE(g.predicted);
    EXPECT_EQ(g.layers, model->model->info().layers);
    EXPECT_NEAR(g.logit, ref["logit"].get<double>(), 1e-4 + 1e-5 * std::abs(ref["logit"].get<double>()));
    const auto expected = ref["scores"].get<std::vector<double>>();
    ASSERT_EQ(g.scores.size(), expected.size());
    double offDiagonal = 0;
    for (size_t j = 0; j < expected.size(); ++j) {
      EXPECT_NEAR(g.scores[j], expected[j], 2e-5 + 1e-3 * std::abs(expected[j]))
          << GetParam() << " position " << position << " key " << j;
      if (static_cast<int64_t>(j) != position) offDiagonal = std::max(offDiagonal, expected[j]);
    }
    // The reference is not the identity: a method that ignored the gradient or the attention would not match it.
    EXPECT_GT(offDiagonal, 1e-3) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, GradAttnGolden,
                         ::testing::Values("gpt2-tiny-random", "llama-gqa-random", "llama-stories260k",
                                           "qwen2-tiny-random", "gemma-tiny-random", "gpt_neox-tiny-random",
                                           "vit-tiny-random"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(GradAttn, CausalRowsIdentityShareAndPrunedHeads) {
  auto model = loadModel(realModel("stories260K"), "cpu");
  const PreparedInput in = prepareText(*model, "Once upon a time, there was a little girl named Lily");
  const int64_t T = static_cast<int64_t>(in.labels.size());
  const GradientAttention g = gradientAttention(*model, in, 6);
  ASSERT_EQ(static_cast<int64_t>(g.scores.size()), T);
  for (int64_t j = 0; j < T; ++j) {
    EXPECT_GE(g.scores[j], 0.0) << j;
    if (j > 6) EXPECT_EQ(g.scores[j], 0.0) << "a causal model's position 6 cannot draw on " << j;
  }
  EXPECT_GE(g.scores[6], 1.0);  // the identity's 1 plus what attention adds
  // A fixed target by token: its logit is the model's.
  const GradientAttention lily = gradientAttention(*model, in, T - 2, "Lily");
  EXPECT_EQ(lily.targetLabel, " Lily");
  EXPECT_GT(lily.logit, 0.0);

  // Every head pruned: no attention output reaches the logit, so no gradient — R stays the identity.
  std::string heads;
  for (int l = 0; l < model->model->info().layers; ++l)
    for (int h = 0; h < model->model->info().heads; ++h)
      heads += (heads.empty() ? "" : ",") + ("L" + std::to_string(l) + "H" + std::to_string(h));
  auto prune = makeVariant("prune:heads=" + heads);
  prune->prepare(*model, in);
  const GradientAttention none = gradientAttention(*model, in, -1, "", prune.get());
  for (int64_t j = 0; j < T; ++j) EXPECT_EQ(none.scores[j], j == T - 1 ? 1.0 : 0.0) << j;
  // A dense-path variant changes the relevance; one with its own algorithm is refused.
  auto window = makeVariant("window:w=2");
  window->prepare(*model, in);
  const GradientAttention windowed = gradientAttention(*model, in, -1, "", window.get());
  double change = 0;
  for (int64_t j = 0; j < T; ++j) change = std::max(change, std::abs(windowed.scores[j] - g.scores[j]));
  EXPECT_GT(change, 0.0);
  auto linear = makeVariant("linear");
  linear->prepare(*model, in);
  EXPECT_THROW(gradientAttention(*model, in, -1, "", linear.get()), InputError);
}

TEST(GradAttn, ClassifierTargetsAndRefusals) {
  const std::string vit = golden("vit-tiny-random");
  auto model = loadModel(vit, "cpu");
  const PreparedInput in = prepareInputsFile(*model, vit + "/expected.safetensors");
  const GradientAttention circle = gradientAttention(*model, in, -1, "circle");
  EXPECT_EQ(circle.targetId, 0);
  EXPECT_EQ(circle.targetLabel, "circle");
  EXPECT_EQ(circle.position, 0);  // [CLS], the classifier's token
  EXPECT_EQ(gradientAttention(*model, in, -1, "#1").targetLabel, "square");
  EXPECT_THROW(gradientAttention(*model, in, -1, "triangle"), InputError);
  EXPECT_THROW(gradientAttention(*model, in, -1, "#3"), InputError);
  EXPECT_THROW(gradientAttention(*model, in, 17), InputError);

  // No output head: nothing to differentiate.
  auto bare = loadModel(golden("clip-vision-tiny-random"), "cpu");
  ASSERT_EQ(bare->model->info().head, "none");
  const PreparedInput win = prepareInputsFile(*bare, golden("clip-vision-tiny-random") + "/expected.safetensors");
  EXPECT_THROW(gradientAttention(*bare, win), InputError);
}

/// Encoder–decoder models: the paper's encoder–decoder rules (R_ts through each cross-attention, R_tt through the
/// decoder's self-attention) equal an independent float64 computation (tests/scripts/grad_attn_seq2seq_reference.py:
/// its own whole-model forwards checked on the golden logits, autograd over the weights) at two decoder positions.
class GradAttnSeq2Seq : public ::testing::TestWithParam<std::string> {};

TEST_P(GradAttnSeq2Seq, EncoderAndDecoderRelevanceEqualTheIndependentReference) {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/grad_attn_seq2seq_reference.json");
  const nlohmann::json cases = nlohmann::json::parse(f).at(GetParam());
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  const ModelInfo& info = model->model->info();
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  ASSERT_EQ(cases.size(), 2u);
  for (const auto& ref : cases) {
    const int64_t position = ref["position"];
    const GradientAttention g = gradientAttention(*model, in, position);
    EXPECT_EQ(g.stack, "encoder");
    EXPECT_EQ(g.position, position);
    ASSERT_EQ(g.targetId, ref["target_id"].get<int64_t>()) << GetParam() << " position " << position;
    EXPECT_TRUE(g.predicted);
    EXPECT_NEAR(g.logit, ref["logit"].get<double>(), 1e-4 + 1e-5 * std::abs(ref["logit"].get<double>()));
    EXPECT_EQ(g.layers, 2 * info.layers);  // two encoder and two decoder layers in these checkpoints
    const auto encoder = ref["encoder_scores"].get<std::vector<double>>();
    const auto decoder = ref["decoder_scores"].get<std::vector<double>>();
    ASSERT_EQ(g.scores.size(), encoder.size());
    ASSERT_EQ(g.decoderScores.size(), decoder.size());
    double strongest = 0;
    for (size_t j = 0; j < encoder.size(); ++j) {
      EXPECT_NEAR(g.scores[j], encoder[j], 2e-5 + 1e-3 * std::abs(encoder[j])) << GetParam() << " source " << j;
      strongest = std::max(strongest, encoder[j]);
    }
    EXPECT_GT(strongest, 1e-3) << "the reference is not all zero";
    for (size_t j = 0; j < decoder.size(); ++j) {
      EXPECT_NEAR(g.decoderScores[j], decoder[j], 2e-5 + 1e-3 * std::abs(decoder[j])) << GetParam() << " target " << j;
      if (static_cast<int64_t>(j) > position) EXPECT_EQ(g.decoderScores[j], 0.0) << "the decoder is causal";
    }
    EXPECT_GE(g.decoderScores[static_cast<size_t>(position)], 1.0);
  }
  // The default position is the decoder's last; positions past it are refused.
  const int64_t T = static_cast<int64_t>(in.labels.size());
  EXPECT_EQ(gradientAttention(*model, in).position, T - 1);
  EXPECT_THROW(gradientAttention(*model, in, T), InputError);
  // Through the Attribution interface: the scores cover the encoder's positions, named by the encoder's labels, and
  // the scored position is the decoder's token.
  const TokenAttribution a = tokenAttribution(*model, in, "grad-attn");
  EXPECT_EQ(a.stack, "encoder");
  EXPECT_EQ(a.labels, in.sequenceLabels.at("encoder"));
  EXPECT_EQ(a.positionToken, in.labels.back());
  EXPECT_EQ(a.highlight, -1);
  EXPECT_EQ(a.decoderScores.size(), in.labels.size());
  const nlohmann::json doc = toJson(a);
  EXPECT_EQ(doc["stack"], "encoder");
  EXPECT_EQ(doc["token"], in.labels.back());
  EXPECT_EQ(doc["scores"].size(), a.labels.size());
  EXPECT_EQ(doc["decoder_scores"].size(), in.labels.size());
}

INSTANTIATE_TEST_SUITE_P(Golden, GradAttnSeq2Seq,
                         ::testing::Values("t5-tiny-random", "bart-tiny-random", "whisper-tiny-random"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(GradAttn, CliWritesScoresAndOverlaysImageAndAudio) {
  TempDir tmp;
  const std::string cli = ATTNSCOPE_CLI_PATH;
  const CommandResult text = runCommand(cli + " attribute --method grad-attn --model " + realModel("stories260K") +
                                        " --text 'Once upon a time' --words --out " + tmp.file("t.json"));
  ASSERT_EQ(text.status, 0) << text.output;
  const nlohmann::json doc = nlohmann::json::parse(slurp(tmp.file("t.json")));
  EXPECT_EQ(doc["method"], "grad-attn");
  EXPECT_TRUE(doc["predicted"].get<bool>());
  EXPECT_EQ(doc["scores"][1]["token"], " Once");

  const std::string vit = golden("vit-tiny-random");
  const CommandResult image = runCommand(cli + " attribute --method grad-attn --model " + vit + " --image " + vit +
                                         "/input.png --target stripes --out " + tmp.file("v.json") + " --overlay " +
                                         tmp.file("v.png"));
  ASSERT_EQ(image.status, 0) << image.output;
  const nlohmann::json v = nlohmann::json::parse(slurp(tmp.file("v.json")));
  EXPECT_EQ(v["target"], "stripes");
  EXPECT_EQ(v["scores"].size(), 17u);
  EXPECT_EQ(slurp(tmp.file("v.png")).substr(1, 3), "PNG");

  const CommandResult audio =
      runCommand(cli + " attribute --method rollout --model " + realModel("kwt1") + " --audio " +
                 golden("kwt1-audio") + "/jfk_0.5s_to_1.5s.wav --out " + tmp.file("k.json") + " --overlay " +
                 tmp.file("k.png"));
  ASSERT_EQ(audio.status, 0) << audio.output;
  EXPECT_EQ(slurp(tmp.file("k.png")).substr(1, 3), "PNG");

  const CommandResult textOverlay = runCommand(cli + " attribute --method grad-attn --model " +
                                               realModel("stories260K") + " --text 'Once' --out " +
                                               tmp.file("x.json") + " --overlay " + tmp.file("x.png"));
  EXPECT_EQ(textOverlay.status, 2) << textOverlay.output;
  EXPECT_NE(textOverlay.output.find("image and audio"), std::string::npos) << textOverlay.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("x.json")));

  // An encoder–decoder model: the decoder's first prediction scored over the encoder's words, with an overlay for
  // Whisper's frames.
  const CommandResult bart = runCommand(cli + " attribute --method grad-attn --model " + golden("bart-tiny-random") +
                                        " --text 'BART reads cafés in Zürich' --words --out " + tmp.file("b.json"));
  ASSERT_EQ(bart.status, 0) << bart.output;
  const nlohmann::json b = nlohmann::json::parse(slurp(tmp.file("b.json")));
  EXPECT_EQ(b["stack"], "encoder");
  EXPECT_EQ(b["position_stack"], "decoder");
  EXPECT_EQ(b["position"], 0);
  EXPECT_FALSE(b.contains("word"));  // the scored position is not among the encoder's words
  EXPECT_EQ(b["scores"][3]["token"], " cafés");  // <s>, BART, reads, cafés
  EXPECT_EQ(b["decoder_scores"].size(), 1u);
  const std::string wh = golden("whisper-tiny-random");
  const CommandResult whisper = runCommand(cli + " attribute --method grad-attn --model " + wh + " --audio " + wh +
                                           "/jfk_2s.wav --out " + tmp.file("w.json") + " --overlay " + tmp.file("w.png"));
  ASSERT_EQ(whisper.status, 0) << whisper.output;
  EXPECT_EQ(nlohmann::json::parse(slurp(tmp.file("w.json")))["scores"].size(), 100u);
  EXPECT_EQ(slurp(tmp.file("w.png")).substr(1, 3), "PNG");
}

}  // namespace
