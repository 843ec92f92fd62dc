#pragma once
// Shared by the fuzz targets: bad input must end in one of AttnScope's typed errors (a clean exit 2 in the CLI);
// anything else — another exception, a crash, a hang — is a finding. Built two ways (tests/fuzz/CMakeLists.txt):
// with clang and libFuzzer for fuzzing, and with any compiler as a replay of the committed corpus and findings.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "attnscope/Errors.h"

namespace fuzz {

/// A private scratch folder for this process (the target's files are written here each run).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("attnscope-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string writeFile(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch() / name).string();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

inline std::string writeFile(const std::string& name, const std::string& text) {
  return writeFile(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

/// Runs \p body: typed AttnScope errors are the expected answer to bad input; any other exception is a finding.
template <class F>
int guarded(const char* target, F&& body) {
  try {
    body();
  } catch (const attnscope::AttnScopeError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz %s: untyped exception (a defect): %s\n", target, e.what());
    std::abort();
  }
  return 0;
}

}  // namespace fuzz
