// Killing the CLI at any moment while it writes a file leaves either the user's old file or the complete new one
// (captures go to a temporary name beside the target and are renamed over it only when complete).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "TestSupport.h"
#include "attnscope/CaptureFile.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

TEST(KillMidWrite, ACaptureIsEitherTheOldFileOrTheWholeNewOne) {
  TempDir tmp;
  const std::string out = tmp.file("capture.safetensors");
  const std::string old = "the user's previous file, not a capture\n";
  // ~500 tokens: 5 layers x 8 heads x T^2 floats is a ~40 MB file, so the write takes long enough to be hit.
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Once upon a time, there was a little girl. ";
  const std::vector<std::string> args = {ATTNSCOPE_CLI_PATH, "run", "--model", realModel("stories260K"), "--text", text,
                                         "--out", out};
  // How long a whole run takes here, to spread the kills over it.
  std::ofstream(out, std::ios::binary) << old;
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(spawnQuiet(args), &status, 0);
  const double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the uninterrupted run must succeed";
  const std::string complete = slurp(out);
  ASSERT_GT(complete.size(), 10u << 20);
  const auto shape = SafetensorsFile::open(out)->entry("attentions.4").shape;
  // A new file must be whole: it opens (header, offsets and sizes all checked) with every layer at full size. (Its
  // metadata records the run's time, so it is not byte-identical to the first run's.)
  auto isComplete = [&](const std::string& path) {
    try {
      auto f = SafetensorsFile::open(path);
      return f->entry("attentions.4").shape == shape && f->has("logits");
    } catch (const std::exception&) {
      return false;
    }
  };
  int sawOld = 0, sawNew = 0;
  for (int i = 0; i < 12; ++i) {
    std::ofstream(out, std::ios::binary | std::ios::trunc) << old;
    const pid_t pid = spawnQuiet(args);
    std::this_thread::sleep_for(std::chrono::duration<double>(whole * (0.35 + 0.06 * i)));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    const std::string now = slurp(out);
    if (now == old) ++sawOld;
    else if (isComplete(out)) ++sawNew;
    else ADD_FAILURE() << "kill " << i << " left a file that is neither the old one nor the complete capture ("
                       << now.size() << " bytes)";
  }
  std::cout << "[ kill ] run of " << whole << " s killed 12 times: " << sawOld << " old, " << sawNew << " new\n";
}

/// Kills the CLI running \p args at \p kills moments spread over a whole run's time, with \p old in \p out before
/// each; after every kill \p out must be the old file or a complete new one (\p isComplete).
void expectOldOrNew(const std::vector<std::string>& args, const std::string& out,
                    const std::function<bool(const std::string&)>& isComplete, int kills, const char* what) {
  const std::string old = "the user's previous file\n";
  std::ofstream(out, std::ios::binary | std::ios::trunc) << old;
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(spawnQuiet(args), &status, 0);
  const double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << what << ": the uninterrupted run must succeed";
  ASSERT_TRUE(isComplete(out)) << what << ": the uninterrupted run's file";
  int sawOld = 0, sawNew = 0;
  for (int i = 0; i < kills; ++i) {
    std::ofstream(out, std::ios::binary | std::ios::trunc) << old;
    const pid_t pid = spawnQuiet(args);
    std::this_thread::sleep_for(std::chrono::duration<double>(whole * (0.3 + 0.7 * i / std::max(1, kills - 1))));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    const std::string now = slurp(out);
    if (now == old) ++sawOld;
    else if (isComplete(out)) ++sawNew;
    else ADD_FAILURE() << what << ": kill " << i << " left a file that is neither the old one nor a complete new one ("
                       << now.size() << " bytes)";
  }
  std::cout << "[ kill ] " << what << ": run of " << whole << " s killed " << kills << " times: " << sawOld << " old, "
            << sawNew << " new\n";
}

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

TEST(KillMidWrite, ReportsSweepsFiguresAndOverlaysAreEitherOldOrWhole) {
  TempDir tmp;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Once upon a time, there was a little girl. ";
  const std::string cli = ATTNSCOPE_CLI_PATH, model = realModel("stories260K");
  auto json = [](const char* key) {
    return [key](const std::string& path) {
      try {
        std::ifstream f(path);
        return nlohmann::json::parse(f).contains(key);
      } catch (const std::exception&) {
        return false;
      }
    };
  };
  expectOldOrNew({cli, "compare", "--model", model, "--text", text, "--variant", "window:w=8", "--variant", "topk:k=4",
                  "--repeats", "2", "--out", tmp.file("report.json")},
                 tmp.file("report.json"), json("variants"), 4, "compare report.json");
  expectOldOrNew({cli, "prune-sweep", "--model", model, "--text", text, "--ratios", "0,0.2,0.4,0.6", "--out",
                  tmp.file("sweep.json")},
                 tmp.file("sweep.json"), json("points"), 4, "prune-sweep sweep.json");
  // A capture to draw from, then its figure and its overlay.
  const std::string capture = tmp.file("cap.safetensors");
  {
    int status = 0;
    waitpid(spawnQuiet({cli, "run", "--model", model, "--text", text, "--out", capture}), &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
#ifdef ATTNSCOPE_TEST_FIGURES
  expectOldOrNew({cli, "figure", "--capture", capture, "--grid", "--format", "pdf", "--out", tmp.file("grid.pdf")},
                 tmp.file("grid.pdf"),
                 [](const std::string& p) {
                   const std::string s = slurp(p);
                   return s.rfind("%PDF-", 0) == 0 && s.find("%%EOF") != std::string::npos;
                 },
                 6, "figure grid.pdf");
#endif
  const std::string vit = tmp.file("vit.safetensors");
  {
    int status = 0;
    waitpid(spawnQuiet({cli, "run", "--model", golden("vit-tiny-random"), "--image", golden("vit-tiny-random/input.png"),
                   "--out", vit}),
            &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  expectOldOrNew({cli, "overlay", "--capture", vit, "--layer", "1", "--head", "2", "--out", tmp.file("o.png")},
                 tmp.file("o.png"),
                 [](const std::string& p) {
                   const std::string s = slurp(p);
                   return s.rfind("\x89PNG", 0) == 0 && s.find("IEND") != std::string::npos;
                 },
                 4, "overlay o.png");
  // `head` writes without waiting for the disk (no fsync), but still only renames a whole file over the old one.
  const std::string qk = tmp.file("qk.safetensors");
  {
    int status = 0;
    waitpid(spawnQuiet({cli, "run", "--model", model, "--text", text, "--store", "qk", "--out", qk}), &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const size_t tokens = static_cast<size_t>(CaptureFile::open(qk)->shape("self", 4).first);
  expectOldOrNew({cli, "head", "--capture", qk, "--layer", "4", "--head", "3", "--out", tmp.file("h.npy")},
                 tmp.file("h.npy"),
                 [tokens](const std::string& p) {
                   const std::string s = slurp(p);
                   if (s.size() < 10 || s.rfind("\x93NUMPY", 0) != 0) return false;
                   const size_t header = 10 + static_cast<unsigned char>(s[8]) + (static_cast<unsigned char>(s[9]) << 8);
                   return s.size() == header + tokens * tokens * 4;
                 },
                 6, "head h.npy");
}

}  // namespace
