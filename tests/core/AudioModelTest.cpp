// The audio families against the golden references and the real KWT-1 checkpoint.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

PreparedInput waveformInput(const LoadedModel& m, const at::Tensor& wave) {
  PreparedInput in;
  in.tensors["input_values"] = wave.unsqueeze(0);  // [1, samples]
  labelPositions(m, in);
  return in;
}

TEST(Kwt, FrontEndReproducesTheReferenceMfccAndPrediction) {
  for (const char* file : {"expected.safetensors", "expected_2.safetensors"}) {
    auto expected = readAll(golden("kwt1-audio") + "/" + file);
    auto m = loadModel(realModel("kwt1"), "cpu");
    RunResult r = runModel(*m, waveformInput(*m, expected.at("input_values")));
    // float32 front end vs the float64 reference: ~1e-4 (README: use 1e-3).
    EXPECT_LT(maxAbsDiff(r.outputs.at("input_features"), expected.at("input_features")), 1e-3) << file;
    EXPECT_LT(maxAbsDiff(r.outputs.at("logits"), expected.at("logits")), 1e-3) << file;
    EXPECT_LT(maxAbsDiff(r.capture->get("self", 11), expected.at("attentions.11")), 1e-3) << file;
  }
}

TEST(Kwt, SilenceIsClassifiedAsSilenceWithTheDocumentedProbability) {
  auto m = loadModel(realModel("kwt1"), "cpu");
  const ModelInfo& info = m->model->info();
  EXPECT_EQ(info.modelType, "kwt");
  EXPECT_EQ(info.modality, "audio");
  EXPECT_EQ(info.layers, 12);
  EXPECT_EQ(info.labels.size(), 12u);
  PreparedInput in = waveformInput(*m, at::zeros({16000}));
  ASSERT_EQ(in.labels.size(), 99u);
  EXPECT_EQ(in.labels[0], "[CLS]");
  EXPECT_EQ(in.labels[1], "0.00s");
  EXPECT_EQ(in.labels[98], "0.97s");
  RunResult r = runModel(*m, in);
  EXPECT_EQ(r.prediction["label"], "_silence_") << r.prediction.dump();
  EXPECT_NEAR(r.prediction["probability"].get<double>(), 0.903, 0.005) << r.prediction.dump();
}

}  // namespace
