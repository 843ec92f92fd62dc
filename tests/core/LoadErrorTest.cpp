// Bad model folders and bad inputs: each gives a clear typed error naming the
// culprit, never a crash.
#include <gtest/gtest.h>

#include <fstream>
#include <torch/serialize.h>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

/// A copy of a golden model folder that a test may edit.
class ModelCopy {
 public:
  explicit ModelCopy(const std::string& name) {
    for (const auto& e : fs::directory_iterator(golden(name)))
      if (e.path().filename() != "expected.safetensors") fs::copy(e.path(), m_tmp.path() + "/" + e.path().filename().string());
  }
  std::string dir() const { return m_tmp.path(); }
  std::string file(const std::string& n) const { return m_tmp.file(n); }
  nlohmann::json config() const {
    std::ifstream f(file("config.json"));
    return nlohmann::json::parse(f);
  }
  void setConfig(const nlohmann::json& j) const { std::ofstream(file("config.json"), std::ios::trunc) << j.dump(2); }
  /// Rewrites model.safetensors through \p edit.
  template <typename F>
  void editWeights(F edit) const {
    auto tensors = readAll(file("model.safetensors"));
    edit(tensors);
    SafetensorsWriter w;
    for (const auto& [n, t] : tensors) w.add(n, t);
    w.write(file("model.safetensors"));
  }

 private:
  TempDir m_tmp;
};

template <typename E>
std::string messageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no " + std::string(typeid(E).name()) + " thrown)";
}

TEST(LoadErrors, MissingConfigJson) {
  ModelCopy m("gpt2-tiny-random");
  fs::remove(m.file("config.json"));
  EXPECT_NE(messageOf<ConfigError>([&] { loadModel(m.dir(), "cpu"); }).find("has no config.json"), std::string::npos);
}

TEST(LoadErrors, MissingFolder) {
  EXPECT_NE(messageOf<ConfigError>([&] { loadModel("/nonexistent/model", "cpu"); }).find("does not exist"),
            std::string::npos);
}

TEST(LoadErrors, UnknownModelTypeListsSupported) {
  ModelCopy m("gpt2-tiny-random");
  auto j = m.config();
  j["model_type"] = "mamba";
  m.setConfig(j);
  const std::string e = messageOf<ModelLoadError>([&] { loadModel(m.dir(), "cpu"); });
  EXPECT_NE(e.find("'mamba' is not supported"), std::string::npos) << e;
  for (const char* t : {"bert", "gpt2", "llama"}) EXPECT_NE(e.find(t), std::string::npos) << e;
}

TEST(LoadErrors, ConfigMissingAFieldNamesIt) {
  ModelCopy m("bert-tiny-random");
  auto j = m.config();
  j.erase("num_attention_heads");
  m.setConfig(j);
  const std::string e = messageOf<ConfigError>([&] { loadModel(m.dir(), "cpu"); });
  EXPECT_NE(e.find("num_attention_heads"), std::string::npos) << e;
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
}

TEST(LoadErrors, ConfigFieldOfWrongType) {
  ModelCopy m("llama-gqa-random");
  auto j = m.config();
  j["hidden_size"] = "48";
  m.setConfig(j);
  EXPECT_NE(messageOf<ConfigError>([&] { loadModel(m.dir(), "cpu"); }).find("'hidden_size' must be an integer"),
            std::string::npos);
}

TEST(LoadErrors, MalformedConfigJson) {
  ModelCopy m("llama-gqa-random");
  std::ofstream(m.file("config.json"), std::ios::trunc) << "{\"model_type\": \"llama\",";
  EXPECT_NE(messageOf<ConfigError>([&] { loadModel(m.dir(), "cpu"); }).find("not valid JSON"), std::string::npos);
}

TEST(LoadErrors, MissingTensorIsNamed) {
  ModelCopy m("llama-gqa-random");
  m.editWeights([](auto& t) { t.erase("model.layers.1.mlp.up_proj.weight"); });
  const std::string e = messageOf<ModelLoadError>([&] { loadModel(m.dir(), "cpu"); });
  EXPECT_NE(e.find("missing tensor 'model.layers.1.mlp.up_proj.weight'"), std::string::npos) << e;
}

TEST(LoadErrors, ShapeMismatchIsNamedWithBothShapes) {
  ModelCopy m("bert-tiny-random");
  m.editWeights([](auto& t) {
    t["bert.encoder.layer.0.attention.self.key.weight"] = at::zeros({16, 8});
  });
  const std::string e = messageOf<ModelLoadError>([&] { loadModel(m.dir(), "cpu"); });
  EXPECT_NE(e.find("'bert.encoder.layer.0.attention.self.key.weight' has shape [16, 8], expected [16, 16]"),
            std::string::npos)
      << e;
}

TEST(LoadErrors, UnusedTensorsAreReportedByName) {
  ModelCopy m("gpt2-tiny-random");
  m.editWeights([](auto& t) { t["transformer.h.0.extra_adapter.weight"] = at::zeros({2}); });
  static std::vector<std::string> warnings;
  warnings.clear();
  auto previous = setWarningHandler([](const std::string& msg, void*) { warnings.push_back(msg); }, nullptr);
  loadModel(m.dir(), "cpu");
  setWarningHandler(previous, nullptr);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("transformer.h.0.extra_adapter.weight"), std::string::npos) << warnings[0];
}

TEST(LoadErrors, TruncatedWeightsFile) {
  ModelCopy m("gpt2-tiny-random");
  const auto size = fs::file_size(m.file("model.safetensors"));
  fs::resize_file(m.file("model.safetensors"), size / 2);
  const std::string e = messageOf<SafetensorsError>([&] { loadModel(m.dir(), "cpu"); });
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
}

TEST(LoadErrors, NoWeightsAtAll) {
  ModelCopy m("gpt2-tiny-random");
  fs::remove(m.file("model.safetensors"));
  EXPECT_NE(messageOf<ModelLoadError>([&] { loadModel(m.dir(), "cpu"); }).find("has no weights"), std::string::npos);
}

TEST(LoadErrors, UnavailableDevice) {
  // On a CPU-only build any CUDA device is unavailable; on a CUDA machine, device 99 is.
  EXPECT_THROW(loadModel(golden("gpt2-tiny-random"), at::hasCUDA() ? "cuda:99" : "cuda:0"), DeviceError);
  EXPECT_THROW(loadModel(golden("gpt2-tiny-random"), "tpu"), DeviceError);
}

TEST(Loading, ShardedSafetensorsIndex) {
  ModelCopy m("llama-gqa-random");
  auto tensors = readAll(m.file("model.safetensors"));
  fs::remove(m.file("model.safetensors"));
  SafetensorsWriter a, b;
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  int i = 0;
  for (const auto& [n, t] : tensors) {
    const bool first = (i++ % 2) == 0;
    (first ? a : b).add(n, t);
    index["weight_map"][n] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  a.write(m.file("model-00001-of-00002.safetensors"));
  b.write(m.file("model-00002-of-00002.safetensors"));
  std::ofstream(m.file("model.safetensors.index.json")) << index.dump();
  auto model = loadModel(m.dir(), "cpu");
  auto expected = readAll(golden("llama-gqa-random/expected.safetensors"));
  RunResult r = runModel(*model, prepareInputsFile(*model, golden("llama-gqa-random/expected.safetensors")));
  EXPECT_LT(maxAbsDiff(r.outputs.at("logits"), expected.at("logits")), 1e-4);
}

TEST(Loading, PytorchModelBinWithWarning) {
  ModelCopy m("gpt2-tiny-random");
  auto tensors = readAll(m.file("model.safetensors"));
  fs::remove(m.file("model.safetensors"));
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [n, t] : tensors) dict.insert(n, t);
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  std::ofstream(m.file("pytorch_model.bin"), std::ios::binary).write(bytes.data(), bytes.size());
  static std::vector<std::string> warnings;
  warnings.clear();
  auto previous = setWarningHandler([](const std::string& msg, void*) { warnings.push_back(msg); }, nullptr);
  auto model = loadModel(m.dir(), "cpu");
  setWarningHandler(previous, nullptr);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("safetensors is preferred"), std::string::npos) << warnings[0];
  auto expected = readAll(golden("gpt2-tiny-random/expected.safetensors"));
  RunResult r = runModel(*model, prepareInputsFile(*model, golden("gpt2-tiny-random/expected.safetensors")));
  EXPECT_LT(maxAbsDiff(r.capture->get("self", 1), expected.at("attentions.1")), 1e-5);
}

TEST(InputErrors, NonUtf8Text) {
  auto model = loadModel(golden("gpt2-tiny-random"), "cpu");
  const std::string e = messageOf<InputError>([&] { prepareText(*model, "abc\xC0\xAF"); });
  EXPECT_NE(e.find("not valid UTF-8"), std::string::npos) << e;
  EXPECT_NE(e.find("byte 3"), std::string::npos) << e;
}

TEST(InputErrors, EmptyText) {
  auto gpt2 = loadModel(golden("gpt2-tiny-random"), "cpu");
  EXPECT_NE(messageOf<InputError>([&] { prepareText(*gpt2, ""); }).find("no tokens"), std::string::npos);
  // BERT and Llama add special tokens, so empty text is still a valid (tiny) input.
  auto bert = loadModel(golden("bert-tiny-random"), "cpu");
  EXPECT_EQ(prepareText(*bert, "").labels, (std::vector<std::string>{"[CLS]", "[SEP]"}));
}

TEST(InputErrors, TextLongerThanPositionsIsTruncatedWithWarning) {
  auto model = loadModel(golden("gpt2-tiny-random"), "cpu");  // n_positions 64
  std::string text;
  for (int i = 0; i < 200; ++i) text += " word";
  static std::vector<std::string> warnings;
  warnings.clear();
  auto previous = setWarningHandler([](const std::string& msg, void*) { warnings.push_back(msg); }, nullptr);
  PreparedInput in = prepareText(*model, text);
  setWarningHandler(previous, nullptr);
  EXPECT_EQ(in.tensors.at("input_ids").size(1), 64);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("truncated"), std::string::npos);
  RunResult r = runModel(*model, in);
  EXPECT_EQ(r.capture->get("self", 0).size(1), 64);
}

TEST(InputErrors, BertTruncationKeepsClosingSep) {
  auto model = loadModel(golden("bert-tiny-random"), "cpu");  // 512 positions
  std::string text;
  for (int i = 0; i < 600; ++i) text += " hello";
  auto previous = setWarningHandler([](const std::string&, void*) {}, nullptr);
  PreparedInput in = prepareText(*model, text);
  setWarningHandler(previous, nullptr);
  ASSERT_EQ(in.labels.size(), 512u);
  EXPECT_EQ(in.labels.back(), "[SEP]");
}

TEST(InputErrors, InputsFileProblems) {
  auto model = loadModel(golden("gpt2-tiny-random"), "cpu");
  TempDir tmp;
  SafetensorsWriter w;
  w.add("attention_mask", at::ones({1, 3}, at::kLong));
  w.write(tmp.file("noids.safetensors"));
  EXPECT_NE(messageOf<InputError>([&] { prepareInputsFile(*model, tmp.file("noids.safetensors")); }).find("input_ids"),
            std::string::npos);
  SafetensorsWriter big;
  big.add("input_ids", at::full({1, 3}, 60000, at::kLong));
  big.write(tmp.file("big.safetensors"));
  PreparedInput in = prepareInputsFile(*model, tmp.file("big.safetensors"));
  EXPECT_NE(messageOf<InputError>([&] { runModel(*model, in); }).find("outside [0, 50257)"), std::string::npos);
  std::ofstream(tmp.file("junk.safetensors")) << "not a safetensors file at all";
  EXPECT_THROW(prepareInputsFile(*model, tmp.file("junk.safetensors")), InputError);
}

TEST(InputErrors, IndexListSyntax) {
  EXPECT_EQ(parseIndexList("0,2-4", "--layers"), (std::set<int>{0, 2, 3, 4}));
  EXPECT_TRUE(parseIndexList("all", "--layers").empty());
  EXPECT_THROW(parseIndexList("1,x", "--layers"), InputError);
  EXPECT_THROW(parseIndexList("5-2", "--heads"), InputError);
  EXPECT_THROW(parseIndexList("-1", "--heads"), InputError);
}

}  // namespace
