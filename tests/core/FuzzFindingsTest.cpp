// The damaged files of ../shared/fuzz-findings (found by mutating stories260K) must each end in a clean
// ModelLoadError naming the file and what is wrong, fast, and the CLI must exit 2 with one line for them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <regex>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

struct Finding {
  std::string file;      ///< name under fuzz-findings/
  std::string replaces;  ///< the file of the model folder it replaces
};

std::vector<Finding> findings() {
  std::vector<Finding> out;
  const std::regex name("stories260K-crash[0-9]+-(.+)");
  for (const auto& e : fs::directory_iterator(sharedDir() + "/fuzz-findings")) {
    std::smatch m;
    const std::string n = e.path().filename().string();
    if (std::regex_match(n, m, name)) out.push_back({n, m[1].str()});
  }
  std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) { return a.file < b.file; });
  return out;
}

std::string damagedCopy(const TempDir& tmp, const Finding& f) {
  const std::string dir = tmp.file(f.file);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(realModel("stories260K")))
    fs::copy(e.path(), dir + "/" + e.path().filename().string());
  fs::copy(sharedDir() + "/fuzz-findings/" + f.file, dir + "/" + f.replaces, fs::copy_options::overwrite_existing);
  return dir;
}

TEST(FuzzFindings, EachDamagedFileIsAClearLoadErrorNamingTheFile) {
  const auto all = findings();
  ASSERT_GE(all.size(), 10u) << "the fuzz findings are missing";
  TempDir tmp;
  for (const auto& f : all) {
    const std::string dir = damagedCopy(tmp, f);
    const auto start = std::chrono::steady_clock::now();
    std::string message;
    try {
      auto m = loadModel(dir, "cpu");  // a damaged tokenizer leaves the model usable on exact inputs ...
      prepareText(*m, "Once upon a time");  // ... and text input reports it
      message = "loaded";
    } catch (const ModelLoadError& e) {
      message = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << f.file << ": not a ModelLoadError: " << e.what();
      continue;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_NE(message.find(f.replaces), std::string::npos) << f.file << ": " << message;
    EXPECT_LT(seconds, 5.0) << f.file << " took " << seconds << " s";
  }
}

TEST(FuzzFindings, TheCliExitsTwoWithOneLine) {
  TempDir tmp;
  for (const auto& f : findings()) {
    const std::string dir = damagedCopy(tmp, f);
    const std::string cmd = std::string(ATTNSCOPE_CLI_PATH) + " run --model '" + dir +
                            "' --text 'Once upon a time' --out '" + tmp.file("cap.safetensors") + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int status = pclose(p);
    EXPECT_EQ(WEXITSTATUS(status), 2) << f.file << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << f.file << ": " << out;
    EXPECT_EQ(out.find("internal error"), std::string::npos) << f.file << ": " << out;
    EXPECT_FALSE(fs::exists(tmp.file("cap.safetensors"))) << f.file << " wrote a capture";
  }
}

}  // namespace
