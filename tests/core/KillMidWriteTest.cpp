// Killing the CLI at any moment while it writes a file leaves either the user's old file or the complete new one
// (captures go to a temporary name beside the target and are renamed over it only when complete).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "TestSupport.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

/// Starts the CLI with \p args (stdout/stderr discarded); returns its pid.
pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

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
  waitpid(spawn(args), &status, 0);
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
    const pid_t pid = spawn(args);
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

}  // namespace
