// The resampler against Pillow 9.4 (tests/scripts/pillow_reference.py wrote the expectations with Debian's
// python3-pil): every filter, up and down, non-integer ratios, one-pixel and very flat images — byte for byte.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"
#include "attnscope/PillowResample.h"

using namespace attnscope;

namespace {

std::vector<uint8_t> makeImage(int width, int height, uint64_t seed) {
  std::vector<uint8_t> out;
  uint64_t state = seed;
  for (int i = 0; i < width * height * 3; ++i) {
    state = (state * 1103515245 + 12345) % (uint64_t(1) << 31);
    out.push_back(static_cast<uint8_t>((state >> 16) & 0xFF));
  }
  return out;
}

std::string fnv1a(const std::vector<uint8_t>& data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint8_t b : data) h = (h ^ b) * 0x100000001b3ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

TEST(PillowResample, EveryFilterMatchesPillowByteForByte) {
  std::ifstream f(std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/core/data/pillow_resize.json");
  const auto ref = nlohmann::json::parse(f);
  ASSERT_EQ(ref["cases"].size(), 48u);
  int matched = 0;
  for (const auto& c : ref["cases"]) {
    const int w = c["width"], h = c["height"], ow = c["out_width"], oh = c["out_height"], filter = c["filter"];
    const auto out = pillowResize(makeImage(w, h, c["seed"].get<uint64_t>()), w, h, 3, ow, oh, pillowFilter(filter));
    ASSERT_EQ(out.size(), static_cast<size_t>(ow) * oh * 3);
    const std::vector<uint8_t> first(out.begin(), out.begin() + std::min<size_t>(12, out.size()));
    EXPECT_EQ(first, c["first"].get<std::vector<uint8_t>>()) << w << "x" << h << " -> " << ow << "x" << oh << " filter " << filter;
    EXPECT_EQ(fnv1a(out), c["fnv1a64"].get<std::string>()) << w << "x" << h << " -> " << ow << "x" << oh << " filter " << filter;
    matched += fnv1a(out) == c["fnv1a64"].get<std::string>();
  }
  std::cout << "[ pillow ] " << matched << " of " << ref["cases"].size() << " resizes identical\n";
}

TEST(PillowResample, BadSizesAndFiltersAreInputErrors) {
  const auto img = makeImage(4, 4, 1);
  EXPECT_THROW(pillowResize(img, 4, 4, 3, 0, 4, PillowFilter::Bicubic), InputError);
  EXPECT_THROW(pillowFilter(9), InputError);
  EXPECT_EQ(pillowResize(img, 4, 4, 3, 4, 4, PillowFilter::Bicubic), img) << "same size is a copy";
}

}  // namespace
