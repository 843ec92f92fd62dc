// Hub ids resolved in a local Hugging Face cache laid out as huggingface_hub writes it: blobs/ holding the files,
// snapshots/<commit>/ linking to them, refs/<branch> naming a commit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/HubCache.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

const std::string kMain = "0123456789abcdef0123456789abcdef01234567";
const std::string kOther = "fedcba9876543210fedcba9876543210fedcba98";

/// Sets an environment variable for the test's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (m_old) setenv(m_name, m_old->c_str(), 1);
    else unsetenv(m_name);
  }

 private:
  const char* m_name;
  std::optional<std::string> m_old;
};

/// Puts \p caseName's files in as snapshot \p commit of \p repo, as links into blobs/.
void addSnapshot(const fs::path& repo, const std::string& commit, const std::string& caseName) {
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots" / commit);
  for (const auto& e : fs::directory_iterator(golden(caseName))) {
    const fs::path blob = repo / "blobs" / (commit.substr(0, 8) + "-" + e.path().filename().string());
    fs::copy_file(e.path(), blob, fs::copy_options::overwrite_existing);
    fs::create_symlink(fs::path("../../blobs") / blob.filename(), repo / "snapshots" / commit / e.path().filename());
  }
}

class HubCache : public ::testing::Test {
 protected:
  void SetUp() override {
    m_repo = fs::path(m_tmp.path()) / "hub" / "models--acme--tiny-lm";
    addSnapshot(m_repo, kMain, "mistral-tiny-random");
    addSnapshot(m_repo, kOther, "opt-tiny-random");
    fs::create_directories(m_repo / "refs");
    std::ofstream(m_repo / "refs" / "main") << kMain;
    std::ofstream(m_repo / "refs" / "v1") << kOther;
  }
  TempDir m_tmp;
  fs::path m_repo;
};

TEST_F(HubCache, IdResolvesToTheSnapshotMainNames) {
  ScopedEnv cache("HF_HUB_CACHE", m_tmp.file("hub"));
  EXPECT_EQ(resolveModelFolder("acme/tiny-lm"), (m_repo / "snapshots" / kMain).string());
  auto m = loadModel("acme/tiny-lm", "cpu");
  EXPECT_EQ(m->model->info().modelType, "mistral");
  EXPECT_EQ(m->dir, (m_repo / "snapshots" / kMain).string());
}

TEST_F(HubCache, RevisionCanBeARefACommitOrAUniquePrefix) {
  ScopedEnv cache("HF_HUB_CACHE", m_tmp.file("hub"));
  EXPECT_EQ(loadModel("acme/tiny-lm@v1", "cpu")->model->info().modelType, "opt");
  EXPECT_EQ(loadModel("acme/tiny-lm@" + kOther, "cpu")->model->info().modelType, "opt");
  EXPECT_EQ(loadModel("acme/tiny-lm@" + kOther.substr(0, 10), "cpu")->model->info().modelType, "opt");
  try {
    resolveModelFolder("acme/tiny-lm@v2");
    FAIL() << "an unknown revision must be refused";
  } catch (const ModelLoadError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no snapshot for revision 'v2'"), std::string::npos) << what;
    EXPECT_NE(what.find(kMain), std::string::npos) << "the snapshots there should be listed: " << what;
  }
}

TEST_F(HubCache, HfHomeIsSearchedToo) {
  fs::create_directories(m_tmp.file("home"));
  fs::rename(m_tmp.file("hub"), m_tmp.file("home/hub"));
  ScopedEnv none("HF_HUB_CACHE", "");
  ScopedEnv home("HF_HOME", m_tmp.file("home"));
  EXPECT_EQ(loadModel("acme/tiny-lm", "cpu")->model->info().modelType, "mistral");
}

TEST_F(HubCache, AnIdNotInTheCacheListsWhereItLooked) {
  ScopedEnv cache("HF_HUB_CACHE", m_tmp.file("hub"));
  try {
    loadModel("acme/other-model", "cpu");
    FAIL() << "must not load";
  } catch (const ModelLoadError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(m_tmp.file("hub") + "/models--acme--other-model"), std::string::npos) << what;
    EXPECT_NE(what.find("nothing is downloaded"), std::string::npos) << what;
  }
  // Paths are never taken for ids.
  EXPECT_FALSE(looksLikeHubId("./acme/tiny-lm"));
  EXPECT_FALSE(looksLikeHubId("/models/x"));
  EXPECT_FALSE(looksLikeHubId("a/b/c"));
  EXPECT_TRUE(looksLikeHubId("Qwen/Qwen2.5-0.5B@main"));
}

TEST_F(HubCache, ListingShowsEverySnapshotWithItsRefTypeAndSize) {
  ScopedEnv cache("HF_HUB_CACHE", m_tmp.file("hub"));
  ScopedEnv home("HOME", m_tmp.file("nohome"));
  ScopedEnv none("HF_HOME", "");
  const auto list = listCachedModels({"mistral"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "acme/tiny-lm");
  EXPECT_EQ(list[0].commit, kMain);
  EXPECT_EQ(list[0].revision, "main");
  EXPECT_EQ(list[0].modelType, "mistral");
  EXPECT_TRUE(list[0].supported);
  EXPECT_EQ(list[0].bytes, folderSize(golden("mistral-tiny-random")));
  EXPECT_EQ(list[1].revision, "v1");
  EXPECT_EQ(list[1].modelType, "opt");
  EXPECT_FALSE(list[1].supported) << "only the types passed in are supported";
}

}  // namespace
