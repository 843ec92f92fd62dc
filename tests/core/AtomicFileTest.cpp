// The one atomic writer: the target is the old file or the whole new one, and a failed or abandoned write leaves
// neither a damaged target nor a temporary file behind. (KillMidWrite kills every CLI writer that goes through it.)
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "TestSupport.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

size_t filesIn(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

TEST(AtomicFile, CommitReplacesTheOldFileWhole) {
  TempDir tmp;
  const std::string path = tmp.file("report.json");
  std::ofstream(path) << "old";
  const std::string big(3 << 20, 'x');
  writeFileAtomically(path, big);
  EXPECT_EQ(slurp(path), big);
  EXPECT_EQ(filesIn(tmp.path()), 1u) << "no temporary file is left";
}

TEST(AtomicFile, AnAbandonedWriteLeavesTheOldFileAndNoTemporary) {
  TempDir tmp;
  const std::string path = tmp.file("capture.safetensors");
  std::ofstream(path) << "the user's file";
  {
    AtomicFile f(path);
    f.write("half of a new file");
    EXPECT_EQ(filesIn(tmp.path()), 2u) << "the new bytes go to a temporary file beside the target";
    // destroyed without commit(): an exception in the writer, a cancelled export
  }
  EXPECT_EQ(slurp(path), "the user's file");
  EXPECT_EQ(filesIn(tmp.path()), 1u);
}

TEST(AtomicFile, AnUnwritableFolderIsAnInputErrorNamingTheFile) {
  TempDir tmp;
  const std::string dir = tmp.file("locked");
  std::filesystem::create_directory(dir);
  const std::string path = dir + "/out.json";
  std::ofstream(path) << "old";
  chmod(dir.c_str(), 0555);
  if (access(dir.c_str(), W_OK) == 0) GTEST_SKIP() << "running as a user who may write anywhere (root)";
  try {
    writeFileAtomically(path, "new");
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  chmod(dir.c_str(), 0755);
  EXPECT_EQ(slurp(path), "old");
}

TEST(AtomicFile, AMissingFolderIsAnInputErrorNamingTheFile) {
  TempDir tmp;
  const std::string path = tmp.file("no/such/folder/out.json");
  try {
    writeFileAtomically(path, "new");
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
