#pragma once
// Helpers for the core test suites: where the shared material lives, reading
// expected tensors, comparing, temporary folders.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "attnscope/EngineSession.h"
#include "attnscope/SafetensorsFile.h"

namespace attnscope::test {

namespace fs = std::filesystem;

/// ATTNSCOPE_SHARED, else the build's default (../shared beside the source tree). The tests FAIL
/// (never skip) when it is missing: parity with it is the definition of "the family works".
inline std::string sharedDir() {
  const char* env = std::getenv("ATTNSCOPE_SHARED");
  const std::string dir = env && *env ? env : ATTNSCOPE_SHARED_DEFAULT;
  if (!fs::is_directory(fs::path(dir) / "golden"))
    ADD_FAILURE() << "shared test material not found at '" << dir
                  << "' (set ATTNSCOPE_SHARED to the folder holding golden/ and models/)";
  return dir;
}
inline std::string golden(const std::string& name) { return sharedDir() + "/golden/" + name; }
inline std::string realModel(const std::string& name) { return sharedDir() + "/models/" + name; }

/// Golden case \p name run through EngineSession on its own inputs twice: keeping probabilities, then queries and
/// keys (`{probs, qk}`).
inline std::pair<CaptureResult, CaptureResult> runBothStores(const std::string& name) {
  const std::string dir = golden(name);
  auto session = EngineSession::open(dir, "cpu");
  RunRequest request;
  request.inputsPath = dir + "/expected.safetensors";
  request.store = "probs";
  CaptureResult probs = session->run(request);
  request.store = "qk";
  return {std::move(probs), session->run(request)};
}

/// All tensors of a safetensors file, as owned float/long CPU tensors.
inline std::map<std::string, at::Tensor> readAll(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& n : f->names()) out[n] = f->tensor(n).clone();
  return out;
}

inline double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

/// Total bytes of the regular files directly in \p dir.
inline uint64_t folderSize(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

/// A fresh empty folder under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "attnscope-test-XXXXXX").string();
    m_path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  const std::string& path() const { return m_path; }
  std::string file(const std::string& name) const { return m_path + "/" + name; }

 private:
  std::string m_path;
};

/// The whole file as bytes ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

#ifdef ATTNSCOPE_TEST_FIGURES
inline constexpr bool kCliDrawsFigures = true;  ///< attnscope-cli is the Qt build: --figure draws
#else
inline constexpr bool kCliDrawsFigures = false;  ///< engine-only build: --figure is refused (CliTest checks how)
#endif
/// " --figure PATH" where attnscope-cli draws figures, "" in the engine-only build.
inline std::string figureOption(const std::string& path) { return kCliDrawsFigures ? " --figure " + path : ""; }

/// Runs \p command in the shell (stderr merged into stdout); returns its exit status and output.
struct CommandResult {
  int status = -1;
  std::string output;
};
inline CommandResult runCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return r;
}

/// Starts \p args[0] with \p args (stdout/stderr discarded) and returns its pid, for tests that kill it.
inline pid_t spawnQuiet(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace attnscope::test
