// Image processors on edge cases: an image smaller than the crop (zero padding, as HF's center_crop), a one-pixel
// image, and preprocessor_config.json files naming an unknown processor or missing a field.
#include <gtest/gtest.h>

#include <fstream>

#include "TestSupport.h"
#include "attnscope/Errors.h"
#include "attnscope/Media.h"

#ifdef TEST_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

using namespace attnscope;
using namespace attnscope::test;

namespace {

std::string copyCase(const TempDir& tmp, const std::string& name) {
  const std::string dir = tmp.file(name);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(golden(name))) fs::copy(e.path(), dir + "/" + e.path().filename().string());
  return dir;
}

TEST(ImageProcessorEdges, OnePixelImageIsResizedAndZeroPaddedToTheCrop) {
#ifndef TEST_HAVE_OPENCV
  FAIL() << "OpenCV (libopencv-dev, installed by run.sh) is missing";
#else
  TempDir tmp;
  const cv::Mat px(1, 1, CV_8UC3, cv::Scalar(30, 120, 200));  // BGR
  ASSERT_TRUE(cv::imwrite(tmp.file("one.png"), px));
  auto model = loadModel(golden("dinov2-tiny-random"), "cpu");  // shortest_edge 36, crop 24x40: 36 < 40 wide
  PreparedInput in = prepareImage(*model, tmp.file("one.png"));
  const at::Tensor v = in.tensors.at("pixel_values")[0];  // [3, 24, 40]
  ASSERT_EQ(v.sizes(), (std::vector<int64_t>{3, 24, 40}));
  // Columns 0-1 and 38-39 are HF's zero padding ((0 - mean) / std); the rest is the pixel's colour.
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225}, rgb[3] = {200, 120, 30};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(v[c][5][0].item<double>(), (0 - mean[c]) / stdv[c], 1e-5) << c;
    EXPECT_NEAR(v[c][5][39].item<double>(), (0 - mean[c]) / stdv[c], 1e-5) << c;
    EXPECT_NEAR(v[c][5][2].item<double>(), (rgb[c] / 255.0 - mean[c]) / stdv[c], 1e-5) << c;
    EXPECT_NEAR(v[c][20][37].item<double>(), (rgb[c] / 255.0 - mean[c]) / stdv[c], 1e-5) << c;
  }
  RunResult r = runModel(*model, in);  // runs: 3x5 patches
  EXPECT_EQ(r.capture->get("self", 0).size(1), 16);
#endif
}

TEST(ImageProcessorEdges, UnknownProcessorAndMissingCropSizeAreNamed) {
  TempDir tmp;
  const std::string dir = copyCase(tmp, "vit-tiny-random");
  auto model = loadModel(dir, "cpu");
  std::ofstream(dir + "/preprocessor_config.json", std::ios::trunc)
      << R"({"image_processor_type": "WobblyImageProcessor", "size": 32})";
  try {
    prepareImage(*model, dir + "/input.png");
    FAIL() << "unknown processor";
  } catch (const ModelLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("image processor 'WobblyImageProcessor' is not supported"), std::string::npos)
        << e.what();
  }
  std::ofstream(dir + "/preprocessor_config.json", std::ios::trunc)
      << R"({"image_processor_type": "ViTImageProcessor", "size": 32, "do_center_crop": true})";
  try {
    prepareImage(*model, dir + "/input.png");
    FAIL() << "missing crop_size";
  } catch (const ModelLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("crop_size is missing"), std::string::npos) << e.what();
  }
  std::ofstream(dir + "/preprocessor_config.json", std::ios::trunc)
      << R"({"image_processor_type": "CLIPImageProcessor", "size": {"longest": 3}})";
  EXPECT_THROW(prepareImage(*model, dir + "/input.png"), ModelLoadError);
}

}  // namespace
