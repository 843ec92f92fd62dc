// Deterministic mutation runs over the files users hand us (config.json, tokenizer.json, preprocessor_config.json,
// the safetensors header): every mutated folder must load and run, or fail with one of the engine's typed errors —
// never another exception, a crash or a hang. A small, seeded version of the fuzzing behind ../shared/fuzz-findings,
// run in every `./run.sh test`.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Media.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

/// Every leaf of \p j, as JSON pointers.
void leaves(const nlohmann::json& j, const nlohmann::json::json_pointer& at, std::vector<nlohmann::json::json_pointer>& out,
            size_t limit) {
  if (out.size() >= limit) return;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) leaves(it.value(), at / it.key(), out, limit);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size() && i < 64; ++i) leaves(j[i], at / i, out, limit);
  } else {
    out.push_back(at);
  }
}

/// One mutation of a JSON document: a leaf replaced by an extreme or mistyped value, or removed.
nlohmann::json mutateJson(nlohmann::json doc, std::mt19937_64& rng) {
  std::vector<nlohmann::json::json_pointer> all;
  leaves(doc, nlohmann::json::json_pointer(), all, 20000);
  if (all.empty()) return doc;
  const auto& at = all[rng() % all.size()];
  static const nlohmann::json kValues[] = {int64_t(1) << 40, int64_t(1) << 62, -1, 0, -1099511627776LL, 1e308,
                                          -0.0, "x", nullptr, nlohmann::json::array(), nlohmann::json::object(),
                                          true, 3, 65537, "\xE2\x96\x81"};
  const int kind = static_cast<int>(rng() % 16);
  if (kind == 15 && at.to_string().size() > 1) {
    nlohmann::json& parent = doc.at(at.parent_pointer());  // remove the key (or element)
    if (parent.is_array()) parent.erase(std::stoul(at.back()));
    else parent.erase(at.back());
  } else {
    doc.at(at) = kValues[kind];
  }
  return doc;
}

/// A copy of a golden case with one file replaced by \p content.
std::string withFile(const TempDir& tmp, const std::string& caseDir, const std::string& file, const std::string& content,
                     int n) {
  const std::string dir = tmp.file("m" + std::to_string(n));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(caseDir)) {
    const std::string name = e.path().filename().string();
    if (name == file) continue;
    fs::create_symlink(e.path(), dir + "/" + name);  // the large files stay where they are
  }
  std::ofstream(dir + "/" + file, std::ios::binary) << content;
  return dir;
}

/// Loads and runs \p dir on \p input; only the engine's typed errors may escape.
void exercise(const std::string& dir, const std::function<PreparedInput(const LoadedModel&)>& input,
              const std::string& what) {
  const auto start = std::chrono::steady_clock::now();
  try {
    auto m = loadModel(dir, "cpu");
    PreparedInput in = input(*m);
    RunResult r = runModel(*m, in);
  } catch (const AttnScopeError&) {
    // a clear, typed error: what the CLI turns into exit 2
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": untyped exception " << e.what();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(s, 10.0) << what << " took " << s << " s";
}

/// ATTNSCOPE_MUTATION_SCALE multiplies the number of mutations (longer local runs); 1 in ./run.sh test.
int scale() {
  const char* env = std::getenv("ATTNSCOPE_MUTATION_SCALE");
  const int s = env ? std::atoi(env) : 1;
  return s > 0 ? s : 1;
}

nlohmann::json readJson(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

TEST(Mutations, ConfigJsonOfEveryFamily) {
  TempDir tmp;
  std::mt19937_64 rng(20261201);
  int n = 0;
  for (const char* name : {"mistral-tiny-random", "gemma-tiny-random", "gpt_neox-tiny-random", "phi3-tiny-random",
                           "opt-tiny-random", "t5-tiny-random", "llama-stories260k", "whisper-tiny-random",
                           "vit-tiny-random", "dinov2-tiny-random", "wav2vec2-tiny-random", "kwt1-audio"}) {
    const std::string src = golden(name);
    const nlohmann::json cfg = readJson(src + "/config.json");
    for (int i = 0; i < 25 * scale(); ++i, ++n) {
      const std::string dir = withFile(tmp, src, "config.json", mutateJson(cfg, rng).dump(), n);
      exercise(dir, [&](const LoadedModel& m) { return prepareInputsFile(m, src + "/expected.safetensors"); },
               std::string(name) + " config mutation " + std::to_string(i));
    }
  }
}

TEST(Mutations, TokenizerJsonAndLegacyVocabularies) {
  TempDir tmp;
  std::mt19937_64 rng(7);
  int n = 0;
  for (const auto& [name, file] : std::vector<std::pair<std::string, std::string>>{
           {"llama-stories260k", "tokenizer.json"}, {"llama-gqa-random", "tokenizer_config.json"},
           {"bert-tiny-random", "tokenizer.json"}}) {
    const std::string src = golden(name);
    const nlohmann::json doc = readJson(src + "/" + file);
    for (int i = 0; i < (file == "tokenizer.json" && name == "bert-tiny-random" ? 12 : 60) * scale(); ++i, ++n) {
      const std::string dir = withFile(tmp, src, file, mutateJson(doc, rng).dump(), n);
      exercise(dir, [](const LoadedModel& m) { return prepareText(m, "Once upon a time, ünïcode 12 🙂"); },
               name + " " + file + " mutation " + std::to_string(i));
    }
  }
}

TEST(Mutations, PreprocessorConfigOfImageModels) {
  TempDir tmp;
  std::mt19937_64 rng(11);
  int n = 0;
  for (const char* name : {"dinov2-tiny-random", "clip-vision-tiny-random", "vit-tiny-random"}) {
    const std::string src = golden(name);
    const nlohmann::json doc = readJson(src + "/preprocessor_config.json");
    for (int i = 0; i < 40 * scale(); ++i, ++n) {
      const std::string dir = withFile(tmp, src, "preprocessor_config.json", mutateJson(doc, rng).dump(), n);
      exercise(dir, [&](const LoadedModel& m) { return prepareImage(m, src + "/input.png"); },
               std::string(name) + " preprocessor mutation " + std::to_string(i));
    }
  }
}

TEST(Mutations, SafetensorsHeaderBytes) {
  TempDir tmp;
  std::mt19937_64 rng(3);
  const std::string src = golden("mistral-tiny-random");
  const std::string bytes = slurp(src + "/model.safetensors");
  uint64_t headerLength = 0;
  for (int i = 7; i >= 0; --i) headerLength = (headerLength << 8) | static_cast<unsigned char>(bytes[i]);
  for (int i = 0; i < 150 * scale(); ++i) {
    std::string mutated = bytes;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      const size_t at = rng() % (8 + headerLength);  // the length prefix and the JSON header
      const char digits[] = "0123456789";
      mutated[at] = rng() % 2 ? digits[rng() % 10] : static_cast<char>(rng() & 0xFF);
    }
    const std::string dir = withFile(tmp, src, "model.safetensors", mutated, i);
    exercise(dir, [&](const LoadedModel& m) { return prepareInputsFile(m, src + "/expected.safetensors"); },
             "safetensors header mutation " + std::to_string(i));
  }
}

}  // namespace
