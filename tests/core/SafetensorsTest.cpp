// The safetensors reader rejects every malformed file with a message naming the
// file and the problem, and never crashes; the writer round-trips.
#include <gtest/gtest.h>

#include <fstream>

#include "TestSupport.h"
#include "attnscope/Errors.h"
#include "attnscope/SafetensorsFile.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

/// Writes an 8-byte little-endian header length, \p header, then \p dataBytes zero bytes.
void writeRaw(const std::string& path, const std::string& header, size_t dataBytes, uint64_t lengthOverride = 0) {
  std::ofstream f(path, std::ios::binary);
  uint64_t n = lengthOverride ? lengthOverride : header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header;
  f << std::string(dataBytes, '\0');
}

std::string errorOf(const std::string& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const SafetensorsError& e) {
    return e.what();
  }
  return "";
}

class SafetensorsBad : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string path = tmp.file("w.safetensors");
};

TEST_F(SafetensorsBad, EmptyAndTooShortFile) {
  writeRaw(path, "", 0, 0);
  std::ofstream(path, std::ios::trunc) << "abc";
  EXPECT_NE(errorOf(path).find("8-byte header length"), std::string::npos) << errorOf(path);
}

TEST_F(SafetensorsBad, HeaderLengthLargerThanFile) {
  writeRaw(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 1u << 30);
  EXPECT_NE(errorOf(path).find("larger than"), std::string::npos) << errorOf(path);
}

TEST_F(SafetensorsBad, TruncatedData) {
  writeRaw(path, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  const std::string e = errorOf(path);
  EXPECT_NE(e.find("'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the data area"), std::string::npos) << e;
}

TEST_F(SafetensorsBad, MalformedJson) {
  writeRaw(path, R"({"a":{"dtype":"F32",)", 0);
  EXPECT_NE(errorOf(path).find("not valid JSON"), std::string::npos) << errorOf(path);
}

TEST_F(SafetensorsBad, UnknownDtype) {
  writeRaw(path, R"({"a":{"dtype":"F8_E4M3X","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_NE(errorOf(path).find("unknown dtype 'F8_E4M3X'"), std::string::npos) << errorOf(path);
}

TEST_F(SafetensorsBad, ByteCountMismatch) {
  writeRaw(path, R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24);
  const std::string e = errorOf(path);
  EXPECT_NE(e.find("needs 24 bytes but data_offsets span 20"), std::string::npos) << e;
}

TEST_F(SafetensorsBad, SixteenBitTensorWithAnOddByteCount) {
  // A BF16 [3] tensor needs 6 bytes; 5 (an odd count) is refused before any tensor is read.
  writeRaw(path, R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,5]}})", 5);
  const std::string e = errorOf(path);
  EXPECT_NE(e.find("needs 6 bytes but data_offsets span 5"), std::string::npos) << e;
  EXPECT_NE(e.find("'w'"), std::string::npos) << "the tensor is named: " << e;
  writeRaw(path, R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,3]}})", 3);
  EXPECT_NE(errorOf(path).find("needs 4 bytes but data_offsets span 3"), std::string::npos) << errorOf(path);
}

TEST_F(SafetensorsBad, OverlappingTensors) {
  writeRaw(path,
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           12);
  EXPECT_NE(errorOf(path).find("overlap"), std::string::npos) << errorOf(path);
}

TEST_F(SafetensorsBad, OffsetsReversedOrNegativeShape) {
  writeRaw(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8);
  EXPECT_NE(errorOf(path).find("begin > end"), std::string::npos) << errorOf(path);
  writeRaw(path, R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  EXPECT_NE(errorOf(path).find("non-negative"), std::string::npos) << errorOf(path);
}

TEST_F(SafetensorsBad, MissingFileAndFolder) {
  EXPECT_NE(errorOf(tmp.file("nope.safetensors")).find("cannot open"), std::string::npos);
  EXPECT_NE(errorOf(tmp.path()).find("not a regular file"), std::string::npos);
}

TEST(Safetensors, WriterRoundTripsAllDtypesAndMetadata) {
  TempDir tmp;
  SafetensorsWriter w;
  w.add("f32", at::arange(6, at::kFloat).view({2, 3}));
  w.add("f16", at::arange(4, at::kFloat).to(at::kHalf));
  w.add("bf16", at::arange(4, at::kFloat).to(at::kBFloat16));
  w.add("i64", at::arange(5, at::kLong));
  w.add("b", at::ones({3}, at::kBool));
  w.setMetadata("attnscope", "{\"x\":1}");
  w.write(tmp.file("out.safetensors"));
  auto f = SafetensorsFile::open(tmp.file("out.safetensors"));
  EXPECT_EQ(f->names().size(), 5u);
  EXPECT_TRUE(f->tensor("f32").equal(at::arange(6, at::kFloat).view({2, 3})));
  EXPECT_EQ(f->entry("bf16").dtype, "BF16");
  EXPECT_TRUE(f->tensor("f16").to(at::kFloat).equal(at::arange(4, at::kFloat)));
  EXPECT_TRUE(f->tensor("i64").equal(at::arange(5, at::kLong)));
  EXPECT_EQ(f->metadata().at("attnscope"), "{\"x\":1}");
  // The header is padded to a multiple of 8 like HF's writer.
  std::ifstream in(tmp.file("out.safetensors"), std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, FailedWriteLeavesExistingFileIntact) {
  TempDir tmp;
  const std::string target = tmp.file("keep.safetensors");
  std::ofstream(target) << "precious";
  SafetensorsWriter w;
  w.add("x", at::ones({2}));
  EXPECT_THROW(w.write(tmp.file("no/such/dir/x.safetensors")), InputError);
  std::ifstream in(target);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

}  // namespace
