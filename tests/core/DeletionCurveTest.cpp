// Deletion curves: the endpoints (nothing removed = the model's own probability of the target; everything
// removable removed = the model on what is left, the same for every token method; every head pruned = the
// same for every head method), the orders (the method's ranking, most important first; seeded random orders
// repeat), the area under the curve, refusals, and the CLI; for a language model, and for text, image and audio
// classifiers and encoder–decoder models (tokens dropped, patches blanked, frames silenced — each checked against the
// model run by hand).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Analysis.h"
#include "attnscope/DeletionCurve.h"
#include "attnscope/DirectLogitAttribution.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/GradientAttention.h"
#include "attnscope/Media.h"
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
  EXPECT_EQ(r.positionStack, "self");
  // The rankings that apply to a causal language model with direct logit attribution: all of them.
  EXPECT_EQ(deletionMethods(*model), deletionMethods());
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

/// p(class) of a classifier on \p inputs, through the engine's ordinary run.
double classProbability(LoadedModel& m, const TensorMap& inputs, int64_t target) {
  PreparedInput in;
  in.tensors = inputs;
  labelPositions(m, in);
  const at::Tensor logits = runModel(m, in).outputs.at("logits").flatten();  // [labels]
  return at::softmax(logits.to(at::kDouble), 0)[target].item<double>();
}

/// Every curve starts at the model's own probability, and each token method's ends at \p end.
void expectEndpoints(const DeletionResult& r, double p0, double end) {
  for (const DeletionCurve& c : r.curves) {
    EXPECT_NEAR(c.probabilities.front(), p0, 1e-6) << c.method;
    if (c.unit != "heads") EXPECT_NEAR(c.probabilities.back(), end, 1e-5) << c.method;
  }
}

/// An image classifier: patches are blanked (set to 0 in the normalised pixels), ranked at [CLS]; each point of a
/// curve equals the model run on the picture with the curve's first patches blanked by hand.
TEST(Deletion, ImageClassifierBlanksPatches) {
  const std::string dir = golden("vit-tiny-random");
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  const DeletionResult r =
      deletionCurves(*model, in, {"rollout", "alti", "grad-attn", "random", "random-heads"}, "", 4, 3);
  EXPECT_EQ(r.unit, "patches");
  EXPECT_TRUE(r.classTarget);
  EXPECT_EQ(r.position, 0);
  EXPECT_EQ(r.removable, 16);  // every patch, not [CLS]
  const at::Tensor pixels = in.tensors.at("pixel_values");  // [1, 3, 32, 32]
  const double p0 = classProbability(*model, {{"pixel_values", pixels}}, r.targetId);
  EXPECT_NEAR(r.probability, p0, 1e-6);
  const double blank = classProbability(*model, {{"pixel_values", at::zeros_like(pixels)}}, r.targetId);
  expectEndpoints(r, p0, blank);
  const int patch = model->model->info().patchSize;
  for (const DeletionCurve& c : r.curves) {
    if (c.unit == "heads") continue;
    EXPECT_EQ(c.unit, "patches");
    ASSERT_EQ(c.order.size(), 16u);
    // The second point (fraction 0.25: 4 of the 16 patches): blank the first four named patches by hand.
    at::Tensor manual = pixels.clone();
    for (size_t i = 0; i < 4; ++i) {
      const std::string& name = c.order[i];  // "5: '(1,0)'"
      const size_t open = name.find('('), comma = name.find(',', open), close = name.find(')', comma);
      const int row = std::stoi(name.substr(open + 1, comma - open - 1));
      const int col = std::stoi(name.substr(comma + 1, close - comma - 1));
      manual.narrow(2, row * patch, patch).narrow(3, col * patch, patch).zero_();
    }
    EXPECT_NEAR(c.probabilities[1], classProbability(*model, {{"pixel_values", manual}}, r.targetId), 1e-6)
        << c.method;
  }
  EXPECT_THROW(deletionCurves(*model, in, {"dla"}), InputError);  // no token head to attribute
  std::vector<std::string> all = deletionMethods();
  all.erase(std::find(all.begin(), all.end(), "dla"));
  EXPECT_EQ(deletionMethods(*model), all);
}

/// A text classifier (BERT, post-LN): tokens are dropped but [CLS] and the two [SEP]s; dropping all leaves those.
TEST(Deletion, TextClassifierDropsTokens) {
  const std::string dir = golden("bert-tiny-random");
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  const DeletionResult r = deletionCurves(*model, in, {"rollout", "alti", "value-zeroing", "random"}, "#1", 3);
  EXPECT_EQ(r.unit, "tokens");
  EXPECT_EQ(r.targetId, 1);
  EXPECT_EQ(r.target, "positive");
  const int64_t T = in.tensors.at("input_ids").size(1);
  EXPECT_EQ(r.removable, T - 3);  // [CLS] A [SEP] B [SEP]
  const double p0 = classProbability(*model, in.tensors, 1);
  const at::Tensor specials = at::tensor(std::vector<int64_t>{0, 11, T - 1}, at::kLong);  // [3]
  TensorMap left;
  for (const auto& [name, t] : in.tensors) left[name] = t.index_select(1, specials);  // [1, 3]
  expectEndpoints(r, p0, classProbability(*model, left, 1));
  EXPECT_EQ(deletionCurves(*model, in, {"random"}, "positive").targetId, 1);
  EXPECT_THROW(deletionCurves(*model, in, {"random"}, "neutral"), InputError);
}

/// An audio classifier (KWT): frames are silenced — their feature rows zeroed when the input is features, their
/// 10 ms of samples when it is a waveform; everything silenced = the model on silence.
TEST(Deletion, AudioClassifierSilencesFrames) {
  const std::string dir = golden("kwt1-audio");
  auto model = loadModel(dir, "cpu");
  const PreparedInput features = prepareInputsFile(*model, dir + "/expected.safetensors");
  ASSERT_TRUE(features.tensors.count("input_features"));
  const DeletionResult r = deletionCurves(*model, features, {"rollout", "alti", "random"}, "", 2);
  EXPECT_EQ(r.unit, "frames");
  EXPECT_EQ(r.removable, 98);
  const at::Tensor f = features.tensors.at("input_features");
  expectEndpoints(r, classProbability(*model, {{"input_features", f}}, r.targetId),
                  classProbability(*model, {{"input_features", at::zeros_like(f)}}, r.targetId));
  const PreparedInput wave = prepareAudio(*model, dir + "/jfk_0.5s_to_1.5s.wav");
  const DeletionResult w = deletionCurves(*model, wave, {"random"}, "", 2);
  EXPECT_EQ(w.unit, "frames");
  const at::Tensor v = wave.tensors.at("input_values");  // [1, 16000]
  at::Tensor silent = v.clone();
  silent.narrow(-1, 0, 98 * 160).zero_();  // 98 frames of 160 samples (10 ms at 16 kHz); the tail past them stays
  expectEndpoints(w, classProbability(*model, {{"input_values", v}}, w.targetId),
                  classProbability(*model, {{"input_values", silent}}, w.targetId));
}

/// p(token) at the decoder's last position of an encoder–decoder model on \p inputs, through the ordinary run.
double decoderProbability(LoadedModel& m, const TensorMap& inputs, int64_t target) {
  PreparedInput in;
  in.tensors = inputs;
  labelPositions(m, in);
  const at::Tensor logits = runModel(m, in).outputs.at("logits");  // [decoder, V]
  return at::softmax(logits[logits.size(0) - 1].to(at::kDouble), 0)[target].item<double>();
}

/// Encoder–decoder text (BART): the target is the decoder's next token; the encoder's source tokens are dropped (not
/// <s> and </s>), the decoder's input untouched; each point equals the model run with those tokens dropped by hand.
TEST(Deletion, EncoderDecoderDropsSourceTokens) {
  const std::string dir = golden("bart-tiny-random");
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  const DeletionResult r = deletionCurves(*model, in, {"attention", "grad-attn", "random", "random-heads"}, "", 4, 5);
  const at::Tensor ids = in.tensors.at("input_ids");  // [1, 20]
  const int64_t S = ids.size(1);
  EXPECT_EQ(r.unit, "tokens");
  EXPECT_FALSE(r.classTarget);
  EXPECT_EQ(r.positionStack, "decoder");
  EXPECT_EQ(toJson(r)["position_stack"], "decoder");
  EXPECT_EQ(r.position, in.tensors.at("decoder_input_ids").size(1) - 1);
  EXPECT_EQ(r.removable, S - 2);  // <s> ... </s>
  const double p0 = decoderProbability(*model, in.tensors, r.targetId);
  EXPECT_NEAR(r.probability, p0, 1e-6);
  const auto keep = [&](const std::vector<int64_t>& kept) {
    TensorMap left = in.tensors;
    const at::Tensor index = at::tensor(kept, at::kLong);  // [kept]
    left["input_ids"] = ids.index_select(1, index);         // [1, kept]
    left["attention_mask"] = in.tensors.at("attention_mask").index_select(1, index);  // [1, kept]
    return left;
  };
  expectEndpoints(r, p0, decoderProbability(*model, keep({0, S - 1}), r.targetId));
  for (const DeletionCurve& c : r.curves) {
    if (c.unit == "heads") continue;
    ASSERT_EQ(c.order.size(), static_cast<size_t>(S - 2)) << c.method;
    // The second point: the first round(18 / 4) = 5 named tokens dropped by hand.
    std::vector<bool> gone(static_cast<size_t>(S), false);
    for (size_t i = 0; i < 5; ++i) gone[std::stoul(c.order[i])] = true;
    std::vector<int64_t> kept;
    for (int64_t j = 0; j < S; ++j)
      if (!gone[static_cast<size_t>(j)]) kept.push_back(j);
    EXPECT_NEAR(c.probabilities[1], decoderProbability(*model, keep(kept), r.targetId), 1e-6) << c.method;
  }
  // grad-attn ranks by the encoder–decoder relevance of the decoder's last position.
  const DeletionCurve& grad = r.curves[1];
  const std::vector<double> relevance = gradientAttention(*model, in, r.position).scores;
  for (size_t i = 1; i < grad.order.size(); ++i)
    EXPECT_GE(relevance[std::stoul(grad.order[i - 1])], relevance[std::stoul(grad.order[i])]) << i;
  // Methods that follow the encoder from an encoder position do not score a decoder target; the list the GUI
  // offers says so.
  for (const char* method : {"rollout", "flow", "alti", "value-zeroing", "dla"})  // (BART is post-LN: no dla)
    EXPECT_THROW(deletionCurves(*model, in, {method}), InputError) << method;
  EXPECT_EQ(deletionMethods(*model), (std::vector<std::string>{"attention", "grad-attn", "random", "random-heads"}));
}

/// Encoder–decoder audio (Whisper): an encoder position's two log-mel columns are set to the features' floor.
TEST(Deletion, EncoderDecoderSilencesAudioFrames) {
  const std::string dir = golden("whisper-tiny-random");
  auto model = loadModel(dir, "cpu");
  const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  const DeletionResult r = deletionCurves(*model, in, {"attention", "grad-attn", "random"}, "", 2, 2);
  EXPECT_EQ(r.unit, "frames");
  EXPECT_EQ(r.removable, 100);
  const at::Tensor f = in.tensors.at("input_features");  // [1, 80, 200]
  const double floor = f.min().item<double>();
  const double p0 = decoderProbability(*model, in.tensors, r.targetId);
  TensorMap quiet = in.tensors;
  quiet["input_features"] = at::full_like(f, floor);  // [1, 80, 200]
  expectEndpoints(r, p0, decoderProbability(*model, quiet, r.targetId));
  const DeletionCurve& random = r.curves[2];
  at::Tensor half = f.clone();  // the first 50 named positions silenced by hand
  for (size_t i = 0; i < 50; ++i) half.narrow(-1, 2 * static_cast<int64_t>(std::stoul(random.order[i])), 2).fill_(floor);
  TensorMap halfQuiet = in.tensors;
  halfQuiet["input_features"] = half;
  EXPECT_NEAR(random.probabilities[1], decoderProbability(*model, halfQuiet, r.targetId), 1e-6);
}

/// Pre-norm encoder–decoder models (Whisper, T5) rank the decoder's own and its cross-attention heads by direct logit
/// attribution, each pruned in its own stack; BART (post-LN) has no such split.
TEST(Deletion, EncoderDecoderHeadsByDirectLogitAttribution) {
  for (const std::string name : {"whisper-tiny-random", "t5-tiny-random"}) {
    const std::string dir = golden(name);
    auto model = loadModel(dir, "cpu");
    const PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
    const std::vector<std::string> methods = deletionMethods(*model);
    EXPECT_NE(std::find(methods.begin(), methods.end(), "dla"), methods.end()) << name;
    const DeletionResult r = deletionCurves(*model, in, {"dla"}, "", 4);
    const DeletionCurve& c = r.curves.at(0);
    EXPECT_EQ(c.unit, "heads");
    const DirectLogitAttribution dla = directLogitAttribution(*model, in, -1, "#" + std::to_string(r.targetId));
    const size_t heads = dla.heads.size() * dla.heads[0].size(), cross = dla.crossHeads.size() * dla.crossHeads[0].size();
    ASSERT_EQ(c.order.size(), heads + cross) << name;
    // The order is the parts' from the most positive down, each named in its stack.
    const nlohmann::json parts = toJson(dla)["parts"];
    const auto partOf = [&](const std::string& head) {
      const bool isCross = head.rfind("cross.", 0) == 0;
      EXPECT_TRUE(isCross || head.rfind("decoder.", 0) == 0) << head;
      const std::string bare = head.substr(head.find('.') + 1);  // LxHy
      const std::string key = isCross ? bare.substr(0, bare.find('H')) + ".cross." + bare.substr(bare.find('H')) : bare;
      return parts.at(key).get<double>();
    };
    for (size_t i = 1; i < c.order.size(); ++i) EXPECT_GE(partOf(c.order[i - 1]), partOf(c.order[i])) << name << i;
    EXPECT_NEAR(c.probabilities.front(), r.probability, 1e-9);
    // The second point: the first round(n / 4) heads pruned by hand, in their stacks only.
    const size_t n = static_cast<size_t>(std::lround((heads + cross) / 4.0));
    std::string spec = "prune:heads=";
    for (size_t i = 0; i < n; ++i) spec += (i ? "," : "") + c.order[i];
    auto prune = makeVariant(spec);
    prune->prepare(*model, in);
    const at::Tensor logits = runModel(*model, in, {}, nullptr, prune.get()).outputs.at("logits");  // [T, V]
    const double p = at::softmax(logits[logits.size(0) - 1].to(at::kDouble), 0)[r.targetId].item<double>();
    EXPECT_NEAR(c.probabilities[1], p, 1e-6) << name;
    EXPECT_GT(std::abs(c.probabilities[1] - r.probability), 1e-6) << name;
  }
  auto bart = loadModel(golden("bart-tiny-random"), "cpu");
  const PreparedInput in = prepareInputsFile(*bart, golden("bart-tiny-random") + "/expected.safetensors");
  EXPECT_THROW(deletionCurves(*bart, in, {"dla"}), InputError);
}

TEST(Deletion, Refusals) {
  auto clip = loadModel(golden("clip-vision-tiny-random"), "cpu");  // no classifier head: nothing to score
  EXPECT_TRUE(deletionMethods(*clip).empty());
  EXPECT_THROW(deletionCurves(*clip,
                              prepareInputsFile(*clip, golden("clip-vision-tiny-random") + "/expected.safetensors"),
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
