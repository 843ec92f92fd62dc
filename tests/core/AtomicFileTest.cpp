// The one atomic writer: the target is the old file or the whole new one, and a failed or abandoned write leaves
// neither a damaged target nor a temporary file behind. (KillMidWrite kills every CLI writer that goes through it.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "TestSupport.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

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

TEST(AtomicFile, ALazyCommitAlsoReplacesTheOldFileWholeAndOnlyThen) {
  TempDir tmp;
  const std::string path = tmp.file("head.npy");
  std::ofstream(path) << "old";
  const std::string big(3 << 20, 'y');
  {
    AtomicFile f(path, AtomicFile::Sync::Lazy);
    f.write(big.data(), big.size() / 2);
    EXPECT_EQ(slurp(path), "old") << "nothing reaches the target before commit";
    f.write(big.data() + big.size() / 2, big.size() - big.size() / 2);
    f.commit();
  }
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

TEST(AtomicFile, AFolderThatCannotHoldTheFileIsAnInputErrorAndTheOldFileStays) {
  // The target's "folder" is a regular file: no user, root included, can create the temporary beside it.
  TempDir tmp;
  const std::string notAFolder = tmp.file("data.json");
  std::ofstream(notAFolder) << "old";
  const std::string path = notAFolder + "/out.json";
  try {
    writeFileAtomically(path, "new");
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(notAFolder), "old");
  EXPECT_EQ(filesIn(tmp.path()), 1u);
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
