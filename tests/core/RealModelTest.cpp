// The real pretrained stories260K checkpoint behaves as documented.
#include <gtest/gtest.h>

#include "TestSupport.h"
#include <fstream>

#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

const char* const kDocumentedSample =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw "
    "a big, red ball. She wanted to play with it, but it was too high.";

TEST(Stories260K, GreedyContinuationReproducesTheDocumentedSample) {
  auto model = loadModel(realModel("stories260K"), "cpu");
  PreparedInput prompt = prepareText(*model, "Once upon a time");
  ASSERT_EQ(prompt.tensors.at("input_ids")[0][0].item<int64_t>(), 1) << "BOS must be prepended";
  GenerateResult g = generate(*model, prompt, 60);
  EXPECT_EQ(g.text.substr(0, std::string(kDocumentedSample).size()), kDocumentedSample) << g.text;
}

TEST(Stories260K, GreedyIdsMatchGoldenAndStepAttentionEqualsFullForward) {
  const std::string dir = golden("llama-stories260k");
  auto expected = readAll(dir + "/expected.safetensors");
  auto model = loadModel(realModel("stories260K"), "cpu");
  PreparedInput prompt = prepareText(*model, "Once upon a time");
  GenerateResult g = generate(*model, prompt, 40);
  const at::Tensor gen = expected.at("generated_ids")[0];  // [40]
  ASSERT_EQ(static_cast<int64_t>(g.ids.size()) - g.promptLength, gen.size(0));
  for (int64_t i = 0; i < gen.size(0); ++i) EXPECT_EQ(g.ids[g.promptLength + i], gen[i].item<int64_t>()) << i;

  // The attention recorded step by step (KV cache) equals one full forward over the final sequence.
  PreparedInput full;
  full.tensors["input_ids"] = at::tensor(g.ids, at::kLong).unsqueeze(0);  // [1, T]
  RunResult r = runModel(*model, full);
  for (int l = 0; l < 5; ++l) {
    const at::Tensor stepwise = g.capture->get("self", l);  // [heads, T, T]
    ASSERT_EQ(stepwise.sizes(), r.capture->get("self", l).sizes());
    EXPECT_LT(maxAbsDiff(stepwise, r.capture->get("self", l)), 1e-5) << "layer " << l;
  }
}

TEST(Stories260K, InfoDescribesTheModel) {
  auto model = loadModel(realModel("stories260K"), "cpu");
  const ModelInfo& i = model->model->info();
  EXPECT_EQ(i.modelType, "llama");
  EXPECT_EQ(i.layers, 5);
  EXPECT_EQ(i.heads, 8);
  EXPECT_EQ(i.kvHeads, 4);
  EXPECT_EQ(i.hidden, 64);
  EXPECT_EQ(i.vocab, 512);
  EXPECT_EQ(i.parameters, 260032);
  EXPECT_EQ(i.dtype, "F32");
  EXPECT_TRUE(i.causal);
}

TEST(Generation, EncoderModelsCannotGenerate) {
  auto model = loadModel(golden("bert-tiny-random"), "cpu");
  PreparedInput in = prepareText(*model, "hello");
  EXPECT_THROW(generate(*model, in, 3), InputError);
}

}  // namespace
