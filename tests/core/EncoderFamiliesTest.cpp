// Encoders and encoder–decoders as they ship (RoBERTa, DistilBERT, T5, BART): T5's relative position bias against
// the reference, teacher-forced targets through our tokenizer shifted as HF shifts labels, incremental decoding equal to
// one full forward in every stack, and the documented behaviour without a decoder side. Golden parity of attentions,
// hidden states and logits is in ParityTest.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Media.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

nlohmann::json caseInput(const std::string& name) {
  std::ifstream f(golden(name) + "/case.json");
  return nlohmann::json::parse(f)["input"];
}

TEST(T5, RelativePositionBiasOfBothStacksMatchesTheReference) {
  const std::string dir = golden("t5-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  RunResult r = runModel(*model, prepareInputsFile(*model, dir + "/expected.safetensors"));
  for (const char* name : {"encoder_position_bias", "decoder_position_bias"}) {
    ASSERT_TRUE(r.outputs.count(name)) << name;
    ASSERT_EQ(r.outputs.at(name).sizes(), expected.at(name).sizes()) << name;
    EXPECT_LT(maxAbsDiff(r.outputs.at(name), expected.at(name)), 1e-6) << name;
  }
  // Layer 1 uses layer 0's bias: its attention matches only because the bias is shared (checked in ParityTest); the
  // encoder bias is symmetric in bucket structure but not in value.
  EXPECT_FALSE(r.outputs.at("encoder_position_bias").equal(r.outputs.at("encoder_position_bias").transpose(1, 2)));
}

TEST(T5, WithoutADecoderSideTheErrorSaysWhatToGive) {
  const std::string dir = golden("t5-tiny-random");
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  in.tensors.erase("decoder_input_ids");
  try {
    runModel(*model, in);
    FAIL() << "a T5 run without a decoder side must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("decoder_input_ids"), std::string::npos) << e.what();
  }
}

TEST(Bart, SourceAndTargetThroughOurTokenizerGiveTheReferenceIds) {
  const std::string dir = golden("bart-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  const auto input = caseInput("bart-tiny-random");
  PreparedInput in = prepareSeq2Seq(*model, input["text"].get<std::string>(), input["target"].get<std::string>());
  EXPECT_TRUE(in.tensors.at("input_ids").equal(expected.at("input_ids")));
  EXPECT_TRUE(in.tensors.at("decoder_input_ids").equal(expected.at("decoder_input_ids")))
      << "decoder input = decoder_start_token_id + labels[:-1]";
  // Labels: source tokens on the encoder, target tokens (starting with </s>) on the decoder.
  EXPECT_EQ(stackLabels(in, "cross").second.front(), "<s>");
  EXPECT_EQ(stackLabels(in, "decoder").first.front(), "</s>");
  RunResult r = runModel(*model, in);
  EXPECT_LT(maxAbsDiff(r.capture->get("cross", 1), expected.at("cross_attentions.1")), 1e-5);
  // Without a target the decoder sees its start token alone.
  PreparedInput bare = prepareText(*model, input["text"].get<std::string>());
  EXPECT_EQ(bare.tensors.at("decoder_input_ids").numel(), 1);
  EXPECT_EQ(bare.tensors.at("decoder_input_ids")[0][0].item<int64_t>(), 2);
  EXPECT_THROW(prepareText(*model, "a", std::string("b")), InputError) << "a text pair is not a target";
}

class Seq2SeqDecoding : public ::testing::TestWithParam<std::string> {};

// Greedy decoding with the key/value cache records one row per step; every stack's rows must equal one full
// teacher-forced forward over the final decoder sequence.
TEST_P(Seq2SeqDecoding, StepAttentionEqualsOneFullForward) {
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  PreparedInput prompt = prepareInputsFile(*model, dir + "/expected.safetensors");
  prompt.tensors["decoder_input_ids"] = prompt.tensors.at("decoder_input_ids").narrow(1, 0, 2);  // [1, 2]
  GenerateResult g = generate(*model, prompt, 5);
  ASSERT_GT(static_cast<int64_t>(g.ids.size()), 2);
  PreparedInput full = prompt;
  full.tensors["decoder_input_ids"] = at::tensor(g.ids, at::kLong).unsqueeze(0);  // [1, Td]
  RunResult r = runModel(*model, full);
  for (const char* stack : {"decoder", "cross", "encoder"})
    for (int l = 0; l < 2; ++l) {
      const at::Tensor a = g.capture->get(stack, l), b = r.capture->get(stack, l);
      ASSERT_EQ(a.sizes(), b.sizes()) << stack << " " << l;
      EXPECT_LT(maxAbsDiff(a, b), 1e-5) << stack << " layer " << l;
    }
}

INSTANTIATE_TEST_SUITE_P(Families, Seq2SeqDecoding, ::testing::Values("t5-tiny-random", "bart-tiny-random"),
                         [](const auto& info) { return info.param == "t5-tiny-random" ? "t5" : "bart"; });

TEST(Roberta, PositionsStartAfterThePaddingIdAndTheLimitIs512) {
  auto model = loadModel(golden("roberta-tiny-random"), "cpu");
  EXPECT_EQ(model->model->info().maxPositions, 512) << "514 rows - (pad 1 + 1)";
  EXPECT_EQ(model->model->info().modelType, "roberta");
  EXPECT_EQ(model->tokenizer->kind(), "byte-level-bpe");
}

TEST(Wav2Vec2, FromTheWavFileThroughCtcToTheReferenceText) {
  const std::string dir = golden("wav2vec2-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  std::ifstream f(dir + "/case.json");
  const auto caseJson = nlohmann::json::parse(f);
  auto model = loadModel(dir, "cpu");
  EXPECT_EQ(model->tokenizer->kind(), "ctc");
  PreparedInput in = prepareAudio(*model, dir + "/input.wav");
  ASSERT_EQ(in.tensors.at("input_values").sizes(), expected.at("input_values").sizes());
  EXPECT_LT(maxAbsDiff(in.tensors.at("input_values"), expected.at("input_values")), 1e-3) << "Wav2Vec2FeatureExtractor";
  EXPECT_EQ(in.labels.size(), 49u) << "one label per conv frame";
  RunResult r = runModel(*model, in);
  EXPECT_LT(maxAbsDiff(r.capture->get("self", 1), expected.at("attentions.1")), 1e-4);
  EXPECT_EQ(r.prediction["task"], "ctc");
  EXPECT_EQ(r.prediction["predicted_ids"].get<std::vector<int64_t>>(),
            caseJson["ctc_greedy"]["predicted_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(r.prediction["text"].get<std::string>(), caseJson["ctc_greedy"]["text"].get<std::string>());
}

TEST(Wav2Vec2, AudioShorterThanTheReceptiveFieldIsAnInputError) {
  const std::string dir = golden("wav2vec2-tiny-random");
  auto model = loadModel(dir, "cpu");
  PreparedInput in;
  in.tensors["input_values"] = at::zeros({1, 300});  // the receptive field is 400 samples (25 ms)
  try {
    runModel(*model, in);
    FAIL() << "too short";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("receptive field (400 samples"), std::string::npos) << e.what();
  }
}

TEST(ImageProcessors, DinoAndClipPixelsFromTheirPngsMatchTheReference) {
  for (const char* name : {"dinov2-tiny-random", "clip-vision-tiny-random"}) {
    const std::string dir = golden(name);
    auto expected = readAll(dir + "/expected.safetensors");
    auto model = loadModel(dir, "cpu");
    PreparedInput in = prepareImage(*model, dir + "/input.png");
    const at::Tensor& px = in.tensors.at("pixel_values");
    ASSERT_EQ(px.sizes(), expected.at("pixel_values").sizes()) << name;
    EXPECT_LT(maxAbsDiff(px, expected.at("pixel_values")), 1e-6) << name << ": Pillow-exact resize, HF crop and rescale";
    RunResult r = runModel(*model, in);
    EXPECT_LT(maxAbsDiff(r.capture->get("self", 1), expected.at("attentions.1")), 1e-5) << name;
  }
  // DINOv2's 24x40 crop is a 3x5 grid: labels follow the input, not the config's square.
  auto dino = loadModel(golden("dinov2-tiny-random"), "cpu");
  PreparedInput in = prepareImage(*dino, golden("dinov2-tiny-random") + "/input.png");
  ASSERT_EQ(in.labels.size(), 16u);
  EXPECT_EQ(in.labels.back(), "(2,4)");
}

TEST(ImageProcessors, VitThroughTheImagePathIsWithin1e5OfTheReference) {
  const std::string dir = golden("vit-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareImage(*model, dir + "/input.png");
  RunResult r = runModel(*model, in);
  for (int l = 0; l < 2; ++l)
    EXPECT_LT(maxAbsDiff(r.capture->get("self", l), expected.at("attentions." + std::to_string(l))), 1e-5) << l;
}

}  // namespace

#include "attnscope/EngineSession.h"

namespace {

TEST(T5, TheGuiSeesEachStacksPositionBiasAsAStackOfItsOwn) {
  const std::string dir = golden("t5-tiny-random");
  auto expected = readAll(dir + "/expected.safetensors");
  auto session = EngineSession::open(dir, "cpu");
  RunRequest request;
  request.inputsPath = dir + "/expected.safetensors";
  const CaptureResult r = session->run(request);
  for (const char* stack : {"encoder", "decoder"}) {
    const std::string name = std::string(stack) + " position bias";
    ASSERT_NE(std::find(r.stacks.begin(), r.stacks.end(), name), r.stacks.end()) << name;
    const AttentionMatrix* a = r.find(name, 0);
    ASSERT_TRUE(a) << name;
    const at::Tensor want = expected.at(std::string(stack) + "_position_bias");  // [heads, q, k]
    ASSERT_EQ(a->heads, want.size(0));
    ASSERT_EQ(a->q, want.size(1));
    ASSERT_EQ(a->k, want.size(2));
    for (int h = 0; h < a->heads; ++h)
      EXPECT_NEAR(a->at(h, 3, 7), want[h][3][7].item<float>(), 1e-6) << name << " head " << h;
  }
  EXPECT_TRUE(r.find("cross", 1)) << "the attention stacks are still there";
}

}  // namespace

namespace {

/// Writes \p tensors as DIR/model.safetensors beside a copy of \p caseName's other files, config edited by \p edit.
std::string variantOf(const TempDir& tmp, const std::string& caseName, const std::map<std::string, at::Tensor>& tensors,
                      const std::function<void(nlohmann::json&)>& edit) {
  const std::string dir = tmp.file(caseName + "-variant");
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(golden(caseName)))
    if (e.path().filename() != "model.safetensors") fs::copy(e.path(), dir + "/" + e.path().filename().string());
  SafetensorsWriter w;
  for (const auto& [name, t] : tensors) w.add(name, t);
  w.write(dir + "/model.safetensors");
  std::ifstream in(dir + "/config.json");
  nlohmann::json cfg = nlohmann::json::parse(in);
  edit(cfg);
  std::ofstream(dir + "/config.json", std::ios::trunc) << cfg.dump(1);
  return dir;
}

TEST(Wav2Vec2, ParametrizedWeightNormNamesLoadTheSameModel) {
  TempDir tmp;
  auto tensors = readAll(golden("wav2vec2-tiny-random/model.safetensors"));
  const std::string pc = "wav2vec2.encoder.pos_conv_embed.conv.";
  tensors[pc + "parametrizations.weight.original0"] = tensors.at(pc + "weight_g");  // torch >= 2.1 names
  tensors[pc + "parametrizations.weight.original1"] = tensors.at(pc + "weight_v");
  tensors.erase(pc + "weight_g");
  tensors.erase(pc + "weight_v");
  const std::string dir = variantOf(tmp, "wav2vec2-tiny-random", tensors, [](nlohmann::json&) {});
  auto expected = readAll(golden("wav2vec2-tiny-random/expected.safetensors"));
  auto model = loadModel(dir, "cpu");
  RunResult r = runModel(*model, prepareInputsFile(*model, golden("wav2vec2-tiny-random/expected.safetensors")));
  EXPECT_LT(maxAbsDiff(r.outputs.at("logits"), expected.at("logits")), 1e-4);
}

TEST(ClipVision, TheVisionTowerOfAFullClipCheckpointLoads) {
  TempDir tmp;
  auto tensors = readAll(golden("clip-vision-tiny-random/model.safetensors"));
  tensors["text_model.embeddings.token_embedding.weight"] = at::zeros({10, 8});  // the text tower, unused
  tensors["visual_projection.weight"] = at::zeros({16, 32});
  const std::string dir = variantOf(tmp, "clip-vision-tiny-random", tensors, [](nlohmann::json& c) {
    nlohmann::json vision = c;
    c = {{"model_type", "clip"}, {"architectures", {"CLIPModel"}}, {"vision_config", vision}, {"text_config", {}}};
  });
  auto expected = readAll(golden("clip-vision-tiny-random/expected.safetensors"));
  auto model = loadModel(dir, "cpu");
  EXPECT_EQ(model->model->info().modelType, "clip");
  RunResult r = runModel(*model, prepareInputsFile(*model, golden("clip-vision-tiny-random/expected.safetensors")));
  EXPECT_LT(maxAbsDiff(r.outputs.at("pooler_output"), expected.at("pooler_output")), 1e-4);
  EXPECT_LT(maxAbsDiff(r.capture->get("self", 1), expected.at("attentions.1")), 1e-5);
}

}  // namespace

#include "attnscope/Compare.h"

namespace {

TEST(Compare, MeanJsCoversEveryStackAndTheGuiShowsTheSameNumber) {
  const std::string dir = golden("t5-tiny-random");
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  Comparison c = compareVariants(*model, in, {"window:w=3"}, CompareOptions{1});
  const auto& v = c.report["variants"][1];
  double sum = 0;
  int n = 0;
  std::set<std::string> stacks;
  for (const auto& L : v["layers"]) {
    stacks.insert(L["stack"].get<std::string>());
    for (const auto& H : L["heads"]) sum += H["js_mean"].get<double>(), ++n;
  }
  EXPECT_EQ(stacks, (std::set<std::string>{"encoder", "decoder", "cross"}));
  EXPECT_NEAR(v["model_metrics"]["js_mean"].get<double>(), sum / n, 1e-12);
  // The desktop application reads the same number (it used to average the first stack only).
  auto session = EngineSession::open(dir, "cpu");
  RunRequest request;
  request.inputsPath = dir + "/expected.safetensors";
  const ComparisonResult r = session->compare(request, {"window:w=3"});
  ASSERT_EQ(r.panels.size(), 2u);
  EXPECT_NEAR(r.panels[1].meanJs, sum / n, 1e-9);
}

}  // namespace
