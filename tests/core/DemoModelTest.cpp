// The locally trained demo model (sample_models/copy-demo, made by sample_models/TrainDemo.cpp) loads through the
// ordinary gpt2 family and does what its card says: it copies a sequence of letters, with a head that attends
// from each copied letter back to the letter after its first occurrence (15 positions earlier).
#include <gtest/gtest.h>

#include <random>

#include "TestSupport.h"
#include "attnscope/Engine.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

const std::string kDemo = std::string(ATTNSCOPE_SOURCE_DIR) + "/sample_models/copy-demo";

TEST(DemoModel, CopiesTheSequenceWithACopyHead) {
  auto m = loadModel(kDemo, "cpu");
  EXPECT_EQ(m->model->info().modelType, "gpt2");
  EXPECT_NE(m->config.optString("attnscope_note", "").find("Locally trained demo"), std::string::npos);
  std::mt19937 rng(12345);  // different sequences from the trainer's
  int correct = 0, total = 0;
  double bestOffsetMass = 0;
  for (int trial = 0; trial < 20; ++trial) {
    std::string letters = "abcdefghijklmnopqrstuvwxyz";
    std::shuffle(letters.begin(), letters.end(), rng);
    const std::string half = letters.substr(0, 16), text = half + half;
    PreparedInput in = prepareText(*m, text);
    const at::Tensor ids = in.tensors.at("input_ids")[0];  // [32]
    ASSERT_EQ(ids.size(0), 32) << "one byte-level token per letter";
    for (int i = 0; i < 32; ++i) ASSERT_EQ(ids[i].item<int64_t>(), static_cast<unsigned char>(text[i]));
    RunResult r = runModel(*m, in);
    const at::Tensor pred = r.outputs.at("logits").argmax(-1);  // [32]
    for (int p = 16; p < 31; ++p, ++total) correct += pred[p].item<int64_t>() == ids[p + 1].item<int64_t>() ? 1 : 0;
    // Mean attention from copied positions to p - 15 (the letter after the first occurrence), best head.
    for (int l = 0; l < 2; ++l) {
      const at::Tensor a = r.capture->get("self", l);  // [heads, 32, 32]
      for (int h = 0; h < a.size(0); ++h) {
        double mass = 0;
        for (int p = 16; p < 31; ++p) mass += a[h][p][p - 15].item<double>();
        bestOffsetMass = std::max(bestOffsetMass, mass / 15);
      }
    }
  }
  const double accuracy = static_cast<double>(correct) / total;
  std::cout << "[ demo ] copy accuracy " << accuracy << ", best head's mean weight on p-15 " << bestOffsetMass
            << "\n";
  EXPECT_GE(accuracy, 0.98);
  EXPECT_GT(bestOffsetMass, 0.9) << "the copy head";
}

}  // namespace
