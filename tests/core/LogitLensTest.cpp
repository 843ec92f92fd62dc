// The logit lens: every layer's residual stream through the model's own final norm and output head.
// The last layer's lens is the model's own logits (and the golden HF logits); an intermediate layer's lens equals
// the logits of the same checkpoint truncated to that many layers (config num_hidden_layers), an independent
// forward; models without a token output head are refused with a message; lens.json from the CLI.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/LogitLens.h"
#include "attnscope/SafetensorsFile.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

class LogitLensGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LogitLensGolden, LastLayerIsTheModelsOwnLogits) {
  const std::string dir = golden(GetParam());
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareInputsFile(*model, dir + "/expected.safetensors");
  at::Tensor own;
  const std::vector<at::Tensor> lens = lensLogits(*model, in, &own);
  ASSERT_EQ(static_cast<int>(lens.size()), model->model->info().layers);
  EXPECT_LT(maxAbsDiff(lens.back(), own), 1e-5) << GetParam();
  const auto expected = readAll(dir + "/expected.safetensors");
  if (expected.count("logits")) EXPECT_LT(maxAbsDiff(lens.back(), expected.at("logits").to(at::kFloat)), 1e-4);
  if (expected.count("logits_last"))
    EXPECT_LT(maxAbsDiff(lens.back()[lens.back().size(0) - 1], expected.at("logits_last").to(at::kFloat)), 1e-4);
  // Earlier layers are other distributions (the lens is not the same row repeated).
  EXPECT_GT(maxAbsDiff(lens.front(), lens.back()), 1e-3) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Families, LogitLensGolden,
                         ::testing::Values("gpt2-tiny-random", "llama-stories260k", "llama-gqa-random",
                                           "qwen2-tiny-random", "mistral-tiny-random", "gemma-tiny-random",
                                           "gpt_neox-tiny-random", "phi3-tiny-random", "opt-tiny-random"));

/// Layer l's lens = the logits of the checkpoint cut to l + 1 layers: an independent forward that ends there.
TEST(LogitLens, IntermediateLayerEqualsTheTruncatedModel) {
  const std::string src = realModel("stories260K");
  TempDir tmp;
  std::ifstream cf(src + "/config.json");
  nlohmann::json config = nlohmann::json::parse(cf);
  const int layers = config.at("num_hidden_layers").get<int>();
  ASSERT_GT(layers, 2);
  auto full = loadModel(src, "cpu");
  PreparedInput in = prepareText(*full, "Once upon a time, there was a little girl named Lily.");
  const std::vector<at::Tensor> lens = lensLogits(*full, in);
  ASSERT_EQ(static_cast<int>(lens.size()), layers);
  for (const auto& entry : std::filesystem::directory_iterator(src))
    if (entry.path().filename() != "config.json") std::filesystem::copy(entry.path(), tmp.file(entry.path().filename().string()));
  for (int keep : {1, layers - 2}) {
    config["num_hidden_layers"] = keep;
    std::ofstream(tmp.file("config.json")) << config.dump();
    auto cut = loadModel(tmp.path(), "cpu");
    PreparedInput same = prepareText(*cut, "Once upon a time, there was a little girl named Lily.");
    const RunResult r = runModel(*cut, same);
    EXPECT_LT(maxAbsDiff(lens[static_cast<size_t>(keep - 1)], r.outputs.at("logits")), 1e-5) << "layer " << keep - 1;
  }
}

// Encoder–decoder models: the lens reads the decoder. Its last layer is the model's own (and the golden) logits, and
// its first layer equals the logits of the checkpoint with a one-layer decoder — an independent forward.
TEST(LogitLens, EncoderDecoderModelsReadTheDecoder) {
  for (const auto& [name, key] : std::vector<std::pair<std::string, std::string>>{
           {"t5-tiny-random", "num_decoder_layers"}, {"bart-tiny-random", "decoder_layers"},
           {"whisper-tiny-random", "decoder_layers"}}) {
    const std::string src = golden(name);
    auto model = loadModel(src, "cpu");
    EXPECT_EQ(model->model->lensStack(), "decoder");
    PreparedInput in = prepareInputsFile(*model, src + "/expected.safetensors");
    at::Tensor own;
    const std::vector<at::Tensor> lens = lensLogits(*model, in, &own);
    std::ifstream cf(src + "/config.json");
    nlohmann::json config = nlohmann::json::parse(cf);
    ASSERT_EQ(static_cast<int>(lens.size()), config.at(key).get<int>()) << name;
    EXPECT_LT(maxAbsDiff(lens.back(), own), 1e-5) << name;
    EXPECT_LT(maxAbsDiff(lens.back(), readAll(src + "/expected.safetensors").at("logits").to(at::kFloat)), 1e-4)
        << name;
    EXPECT_GT(maxAbsDiff(lens.front(), lens.back()), 1e-3) << name;
    TempDir tmp;
    for (const auto& entry : std::filesystem::directory_iterator(src))
      if (entry.path().filename() != "config.json")
        std::filesystem::copy(entry.path(), tmp.file(entry.path().filename().string()));
    config[key] = 1;
    std::ofstream(tmp.file("config.json")) << config.dump();
    auto cut = loadModel(tmp.path(), "cpu");
    const RunResult r = runModel(*cut, prepareInputsFile(*cut, src + "/expected.safetensors"));
    EXPECT_LT(maxAbsDiff(lens.front(), r.outputs.at("logits")), 1e-5) << name << ": layer 0 of the decoder";
    // lens.json lists the decoder's positions.
    const nlohmann::json doc = logitLens(*model, in, "", 3);
    EXPECT_EQ(doc["stack"], "decoder");
    EXPECT_EQ(doc["positions"].size(), static_cast<size_t>(own.size(0))) << name;
  }
}

// The masked-LM head: the golden BERT weights with the seeded MLM head of tests/scripts/mlm_lens_reference.py (the
// classifier and pooler left out); every layer's lens equals that script's independent float64 forward through the
// head — the top five tokens and their logits, and the logit of each position's own input token.
TEST(LogitLens, MaskedLmHeadEqualsTheIndependentReference) {
  const std::string src = golden("bert-tiny-random"), data = std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data";
  TempDir tmp;
  SafetensorsWriter w;
  for (const auto& [name, t] : readAll(src + "/model.safetensors"))
    if (name.rfind("classifier.", 0) != 0 && name.rfind("bert.pooler.", 0) != 0) w.add(name, t);
  for (const auto& [name, t] : readAll(data + "/bert_mlm_head.safetensors")) w.add(name, t);
  w.write(tmp.file("model.safetensors"));
  std::ifstream cf(src + "/config.json");
  nlohmann::json config = nlohmann::json::parse(cf);
  config["architectures"] = {"BertForMaskedLM"};
  config.erase("id2label");
  config.erase("label2id");
  std::ofstream(tmp.file("config.json")) << config.dump();
  auto model = loadModel(tmp.path(), "cpu");
  ASSERT_EQ(model->model->info().head, "mlm");
  const PreparedInput in = prepareInputsFile(*model, src + "/expected.safetensors");
  at::Tensor own;
  const std::vector<at::Tensor> lens = lensLogits(*model, in, &own);
  std::ifstream rf(data + "/mlm_lens_reference.json");
  const nlohmann::json expected = nlohmann::json::parse(rf).at("layers");
  ASSERT_EQ(lens.size(), expected.size());
  EXPECT_LT(maxAbsDiff(lens.back(), own), 1e-5);
  const at::Tensor ids = in.tensors.at("input_ids").reshape({-1});
  for (size_t l = 0; l < lens.size(); ++l) {
    ASSERT_EQ(static_cast<size_t>(lens[l].size(0)), expected[l].size());
    for (int64_t t = 0; t < lens[l].size(0); ++t) {
      const auto& cell = expected[l][static_cast<size_t>(t)];
      const at::Tensor row = lens[l][t];  // [V]
      const auto ourTop = at::topk(row, 5);
      const auto topIds = cell["top_ids"].get<std::vector<int64_t>>();
      const auto topLogits = cell["top_logits"].get<std::vector<double>>();
      EXPECT_EQ(std::get<1>(ourTop)[0].item<int64_t>(), topIds[0]) << "layer " << l << " position " << t;
      for (size_t i = 0; i < topIds.size(); ++i)
        EXPECT_NEAR(row[topIds[i]].item<double>(), topLogits[i], 1e-4) << "layer " << l << " position " << t;
      EXPECT_NEAR(row[ids[t].item<int64_t>()].item<double>(), cell["input_logit"].get<double>(), 1e-4);
    }
  }
}

TEST(LogitLens, JsonTargetsAndRefusals) {
  const std::string dir = realModel("stories260K");
  auto model = loadModel(dir, "cpu");
  PreparedInput in = prepareText(*model, "Once upon a time");
  const nlohmann::json doc = logitLens(*model, in, "", 5);
  ASSERT_EQ(doc["layers"].size(), static_cast<size_t>(model->model->info().layers));
  const auto& last = doc["layers"].back()["positions"];
  ASSERT_EQ(last.size(), in.labels.size());
  for (const auto& cell : last) {  // default target: the model's own prediction, rank 0 at the last layer
    EXPECT_EQ(cell["target_rank"].get<int>(), 0);
    EXPECT_EQ(cell["target_id"], cell["top"][0]["id"]);
    EXPECT_NEAR(cell["target_p"].get<double>(), cell["top"][0]["p"].get<double>(), 1e-12);
    EXPECT_EQ(cell["top"].size(), 5u);
    double previous = 1;
    for (const auto& t : cell["top"]) {
      EXPECT_LE(t["p"].get<double>(), previous);
      previous = t["p"].get<double>();
    }
  }
  // A fixed target: its id, and a rank that agrees with the top list wherever it appears there.
  const int64_t id = lensTargetId(*model, "#42");
  EXPECT_EQ(id, 42);
  const nlohmann::json fixed = logitLens(*model, in, "#42", 10);
  EXPECT_EQ(fixed["target"]["id"], 42);
  for (const auto& layer : fixed["layers"])
    for (const auto& cell : layer["positions"]) {
      EXPECT_EQ(cell["target_id"], 42);
      for (size_t i = 0; i < cell["top"].size(); ++i)
        if (cell["top"][i]["id"] == 42) EXPECT_EQ(cell["target_rank"].get<size_t>(), i);
    }
  EXPECT_THROW(lensTargetId(*model, "#999999"), InputError);
  EXPECT_THROW(lensTargetId(*model, "once upon a time"), InputError);
  // Models without a token output head: a classifier.
  auto vit = loadModel(golden("vit-tiny-random"), "cpu");
  PreparedInput image = prepareInputsFile(*vit, golden("vit-tiny-random") + "/expected.safetensors");
  try {
    lensLogits(*vit, image);
    FAIL() << "a classifier has no token output head";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("token output head"), std::string::npos) << e.what();
  }
}

TEST(LogitLens, CliWritesLensJson) {
  TempDir tmp;
  const std::string out = tmp.file("lens.json");
  const CommandResult r = runCommand(std::string(ATTNSCOPE_CLI_PATH) + " lens --model " + realModel("stories260K") +
                                     " --text 'Once upon a time' --top 3 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream f(out);
  const nlohmann::json doc = nlohmann::json::parse(f);
  EXPECT_EQ(doc["stack"], "self");
  EXPECT_EQ(doc["layers"][0]["positions"][0]["top"].size(), 3u);
  const CommandResult bad = runCommand(std::string(ATTNSCOPE_CLI_PATH) + " lens --model " + realModel("stories260K") +
                                       " --text 'Once' --target 'two words here' --out " + tmp.file("x.json"));
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("tokens"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("x.json")));
  // Encoder-decoder models: the decoder's text gives the positions; the last layer's top token is the model's.
  const std::string bart = golden("bart-tiny-random");
  const CommandResult dec = runCommand(std::string(ATTNSCOPE_CLI_PATH) + " lens --model " + bart +
                                       " --text 'AttnScope shows attention.' --decoder-text 'AttnScope shows' --top 1"
                                       " --out " + tmp.file("bart.json"));
  ASSERT_EQ(dec.status, 0) << dec.output;
  const nlohmann::json b = nlohmann::json::parse(slurp(tmp.file("bart.json")));
  EXPECT_EQ(b["stack"], "decoder");
  EXPECT_EQ(b["positions"].back(), " shows");
  auto model = loadModel(bart, "cpu");
  const RunResult run = runModel(*model, prepareSeq2Seq(*model, "AttnScope shows attention.", "AttnScope shows"));
  const at::Tensor logits = run.outputs.at("logits");  // [T, V]
  const auto& last = b["layers"].back()["positions"];
  ASSERT_EQ(last.size(), static_cast<size_t>(logits.size(0)));
  for (int64_t t = 0; t < logits.size(0); ++t)
    EXPECT_EQ(last[static_cast<size_t>(t)]["top"][0]["id"].get<int64_t>(), logits[t].argmax().item<int64_t>()) << t;
  const CommandResult one = runCommand(std::string(ATTNSCOPE_CLI_PATH) + " lens --model " + realModel("stories260K") +
                                       " --text 'Once' --decoder-text 'x' --out " + tmp.file("y.json"));
  EXPECT_EQ(one.status, 2) << one.output;
  EXPECT_NE(one.output.find("encoder-decoder"), std::string::npos) << one.output;
}

}  // namespace
