// convert-llama2c: the llama2.c release format (karpathy/tinyllamas stories260K.bin + tok512.bin) becomes the
// Hugging Face folder the engine loads. The fixture writes the release format from ../shared/models/stories260K
// (an independent HF-layout conversion) by undoing its q/k permutation and writing each token with a
// sentencepiece BPE score; converting it back must reproduce every tensor bit for bit, the same tokenizer.json
// (vocabulary and the 165 merges) and the documented greedy story.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Llama2cConverter.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

const char* const kDocumentedSample =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw "
    "a big, red ball.";

nlohmann::json readJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void putInt(std::ofstream& out, int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); }
void putTensor(std::ofstream& out, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * 4));
}

/// Writes stories260K in the llama2.c legacy format (checkpoint + tokenizer.bin) from the shared HF folder.
void writeRelease(const std::string& checkpoint, const std::string& tokenizer) {
  const std::string dir = realModel("stories260K");
  const nlohmann::json cfg = readJson(dir + "/config.json");
  auto w = readAll(dir + "/model.safetensors");
  const int D = cfg["hidden_size"], F = cfg["intermediate_size"], L = cfg["num_hidden_layers"];
  const int H = cfg["num_attention_heads"], KV = cfg["num_key_value_heads"], V = cfg["vocab_size"];
  const int S = cfg["max_position_embeddings"], hs = D / H;
  // Hugging Face rotate-half rows back to llama2.c's interleaved pairs.
  auto interleave = [&](const at::Tensor& t, int heads) {
    return t.view({heads, 2, hs / 2, D}).transpose(1, 2).reshape({heads * hs, D});  // [heads*hs, D]
  };
  std::ofstream out(checkpoint, std::ios::binary);
  for (int v : {D, F, L, H, KV, V, S}) putInt(out, v);
  auto layer = [&](int l, const std::string& n) { return w.at("model.layers." + std::to_string(l) + "." + n); };
  putTensor(out, w.at("model.embed_tokens.weight"));
  for (int l = 0; l < L; ++l) putTensor(out, layer(l, "input_layernorm.weight"));
  for (int l = 0; l < L; ++l) putTensor(out, interleave(layer(l, "self_attn.q_proj.weight"), H));
  for (int l = 0; l < L; ++l) putTensor(out, interleave(layer(l, "self_attn.k_proj.weight"), KV));
  for (int l = 0; l < L; ++l) putTensor(out, layer(l, "self_attn.v_proj.weight"));
  for (int l = 0; l < L; ++l) putTensor(out, layer(l, "self_attn.o_proj.weight"));
  for (int l = 0; l < L; ++l) putTensor(out, layer(l, "post_attention_layernorm.weight"));
  for (int l = 0; l < L; ++l) putTensor(out, layer(l, "mlp.gate_proj.weight"));
  for (int l = 0; l < L; ++l) putTensor(out, layer(l, "mlp.down_proj.weight"));
  for (int l = 0; l < L; ++l) putTensor(out, layer(l, "mlp.up_proj.weight"));
  putTensor(out, w.at("model.norm.weight"));
  const at::Tensor inv = at::pow(10000.0, -at::arange(0, hs, 2, at::kFloat) / hs);  // [hs/2]
  const at::Tensor ang = at::outer(at::arange(S, at::kFloat), inv);                  // [S, hs/2]
  putTensor(out, at::cos(ang));
  putTensor(out, at::sin(ang));
  ASSERT_TRUE(out.good());

  // tokenizer.bin: sentencepiece BPE scores (0 for specials and bytes, then -rank in merge order), spaces for ▁.
  const nlohmann::json tok = readJson(dir + "/tokenizer.json");
  std::vector<std::string> pieces(static_cast<size_t>(V));
  for (auto it = tok["model"]["vocab"].begin(); it != tok["model"]["vocab"].end(); ++it)
    pieces.at(it.value().get<size_t>()) = it.key();
  std::ofstream tb(tokenizer, std::ios::binary);
  putInt(tb, 7);
  for (int i = 0; i < V; ++i) {
    std::string s = pieces[static_cast<size_t>(i)];
    if (s == "<s>") s = "\n<s>\n";
    else if (s == "</s>") s = "\n</s>\n";
    for (size_t p; (p = s.find("\xE2\x96\x81")) != std::string::npos;) s.replace(p, 3, " ");
    const float score = i < 259 ? 0.0f : -static_cast<float>(i - 259);
    tb.write(reinterpret_cast<const char*>(&score), 4);
    putInt(tb, static_cast<int32_t>(s.size()));
    tb.write(s.data(), static_cast<std::streamsize>(s.size()));
  }
  ASSERT_TRUE(tb.good());
}

std::string fileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(ConvertLlama2c, ReleaseFormatBecomesTheSameHuggingFaceModel) {
  TempDir tmp;
  writeRelease(tmp.file("stories260K.bin"), tmp.file("tok512.bin"));
  ASSERT_EQ(fs::file_size(tmp.file("stories260K.bin")), 1056540u) << "the fixture has the release's size";
  ASSERT_EQ(fs::file_size(tmp.file("tok512.bin")), 6227u) << "the fixture has the release's size";
  const Llama2cConversion c = convertLlama2c(tmp.file("stories260K.bin"), tmp.file("tok512.bin"), tmp.file("hf"));
  EXPECT_EQ(c.layers, 5);
  EXPECT_EQ(c.kvHeads, 4);
  EXPECT_TRUE(c.sharedClassifier);
  EXPECT_EQ(c.merges, 165);
  EXPECT_FALSE(fs::exists(tmp.file("hf.partial-" + std::to_string(::getpid())))) << "staging folder left behind";

  const std::string ref = realModel("stories260K");
  auto expected = readAll(ref + "/model.safetensors");
  auto got = readAll(tmp.file("hf/model.safetensors"));
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [name, t] : expected) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_TRUE(at::equal(got.at(name), t)) << name;
  }
  EXPECT_EQ(readJson(tmp.file("hf/tokenizer.json")), readJson(ref + "/tokenizer.json"));
  for (const char* f : {"tokenizer_config.json", "special_tokens_map.json", "generation_config.json"})
    EXPECT_EQ(readJson(tmp.file("hf/") + f), readJson(ref + "/" + f)) << f;
  const nlohmann::json cfg = readJson(tmp.file("hf/config.json")), refCfg = readJson(ref + "/config.json");
  for (auto it = refCfg.begin(); it != refCfg.end(); ++it) EXPECT_EQ(cfg.at(it.key()), it.value()) << it.key();

  auto model = loadModel(tmp.file("hf"), "cpu");
  GenerateResult g = generate(*model, prepareText(*model, "Once upon a time"), 40);
  EXPECT_EQ(g.text.substr(0, std::string(kDocumentedSample).size()), kDocumentedSample) << g.text;
}

TEST(ConvertLlama2c, BadReleasesAreRefusedByNameAndNothingIsWritten) {
  TempDir tmp;
  writeRelease(tmp.file("m.bin"), tmp.file("t.bin"));
  const std::string model = fileBytes(tmp.file("m.bin")), tok = fileBytes(tmp.file("t.bin"));
  auto expectError = [&](const std::string& ckpt, const std::string& tk, const std::string& needle, auto tag) {
    using E = decltype(tag);
    try {
      convertLlama2c(ckpt, tk, tmp.file("out"));
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const E& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(tmp.file("out"))) << needle;
  };
  writeBytes(tmp.file("short.bin"), model.substr(0, model.size() - 4));
  expectError(tmp.file("short.bin"), tmp.file("t.bin"), "short.bin' is 1056536 bytes", ModelLoadError(""));
  expectError(tmp.file("short.bin"), tmp.file("t.bin"), "truncated", ModelLoadError(""));
  writeBytes(tmp.file("long.bin"), model + "junk");
  expectError(tmp.file("long.bin"), tmp.file("t.bin"), "extra bytes", ModelLoadError(""));
  std::string v1 = model;
  const uint32_t magic = 0x616b3432;
  std::memcpy(v1.data(), &magic, 4);
  writeBytes(tmp.file("v1.bin"), v1);
  expectError(tmp.file("v1.bin"), tmp.file("t.bin"), "versioned export", ModelLoadError(""));
  writeBytes(tmp.file("hdr.bin"), std::string(28, '\xff'));
  expectError(tmp.file("hdr.bin"), tmp.file("t.bin"), "not a llama2.c checkpoint", ModelLoadError(""));
  expectError(tmp.file("none.bin"), tmp.file("t.bin"), "none.bin' does not exist", ModelLoadError(""));

  writeBytes(tmp.file("tshort.bin"), tok.substr(0, tok.size() - 10));
  expectError(tmp.file("m.bin"), tmp.file("tshort.bin"), "ends inside token 511", TokenizerError(""));
  writeBytes(tmp.file("tlong.bin"), tok + "xx");
  expectError(tmp.file("m.bin"), tmp.file("tlong.bin"), "belongs to another model", TokenizerError(""));
  std::string badUtf8 = tok;
  badUtf8[4 + 8 + 5 - 1] = '\xff';  // the last byte of token 0 ("<unk>")
  writeBytes(tmp.file("tutf.bin"), badUtf8);
  expectError(tmp.file("m.bin"), tmp.file("tutf.bin"), "token 0 is not valid UTF-8", TokenizerError(""));

  // An existing folder with content is never touched.
  fs::create_directory(tmp.file("out"));
  writeBytes(tmp.file("out/config.json"), "{\"mine\": 1}");
  EXPECT_THROW(convertLlama2c(tmp.file("m.bin"), tmp.file("t.bin"), tmp.file("out")), InputError);
  EXPECT_EQ(fileBytes(tmp.file("out/config.json")), "{\"mine\": 1}");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.file("out")), fs::directory_iterator()), 1);
}

/// sample_models/download.sh takes the upstream route for stories260K when the mirror holds the release format:
/// checks the pinned hashes, converts with attnscope-cli, and the folder it writes runs. With the project's own
/// manifest, this fixture (not byte-identical to the release) is refused by its checksum.
TEST(ConvertLlama2c, DownloadScriptVerifiesAndConvertsTheRelease) {
  TempDir tmp;
  fs::create_directories(tmp.file("mirror/stories260K"));
  writeRelease(tmp.file("mirror/stories260K/stories260K.bin"), tmp.file("mirror/stories260K/tok512.bin"));
  auto sha = [&](const std::string& f) {
    const std::string cmd = "sha256sum '" + f + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[65] = {0};
    const size_t n = p ? std::fread(buf, 1, 64, p) : 0;
    if (p) ::pclose(p);
    return std::string(buf, n);
  };
  const std::string manifest = tmp.file("manifest");
  {
    std::ofstream m(manifest);
    m << "stories260K stories260K.bin " << sha(tmp.file("mirror/stories260K/stories260K.bin")) << " https://x/a\n"
      << "stories260K tok512.bin " << sha(tmp.file("mirror/stories260K/tok512.bin")) << " https://x/b\n"
      << "stories260K :convert llama2c stories260K.bin,tok512.bin\n";
  }
  const std::string script = std::string(ATTNSCOPE_SOURCE_DIR) + "/sample_models/download.sh";
  const std::string env = "ATTNSCOPE_MODEL_MIRROR='" + tmp.file("mirror") + "' ATTNSCOPE_CLI='" +
                          ATTNSCOPE_CLI_PATH + "' ";
  ASSERT_EQ(std::system((env + "ATTNSCOPE_MODEL_MANIFEST='" + manifest + "' bash '" + script +
                         "' stories260K '" + tmp.file("dest") + "' > '" + tmp.file("log") + "' 2>&1")
                            .c_str()),
            0)
      << fileBytes(tmp.file("log"));
  EXPECT_FALSE(fs::exists(tmp.file("dest/stories260K.bin"))) << "the release files are not kept";
  auto model = loadModel(tmp.file("dest"), "cpu");
  GenerateResult g = generate(*model, prepareText(*model, "Once upon a time"), 40);
  EXPECT_EQ(g.text.substr(0, std::string(kDocumentedSample).size()), kDocumentedSample) << g.text;

  EXPECT_NE(std::system((env + "bash '" + script + "' stories260K '" + tmp.file("dest2") + "' > '" +
                         tmp.file("log2") + "' 2>&1")
                            .c_str()),
            0);
  EXPECT_NE(fileBytes(tmp.file("log2")).find("checksum mismatch for stories260K/stories260K.bin"), std::string::npos)
      << fileBytes(tmp.file("log2"));
  EXPECT_FALSE(fs::exists(tmp.file("dest2")));
}

}  // namespace

namespace {

TEST(ConvertLlama2c, KilledAtAnyMomentLeavesNoModelOrTheWholeModel) {
  // The converter stages beside the target and renames the folder into place: after a kill, the output folder is
  // either absent or a complete model that loads (never a half-written one).
  TempDir tmp;
  writeRelease(tmp.file("m.bin"), tmp.file("t.bin"));
  const std::string out = tmp.file("converted");
  const std::vector<std::string> args = {ATTNSCOPE_CLI_PATH, "convert-llama2c", "--checkpoint", tmp.file("m.bin"),
                                         "--tokenizer", tmp.file("t.bin"), "--out", out};
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(spawnQuiet(args), &status, 0);
  const double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  int absent = 0, complete = 0;
  for (int i = 0; i < 8; ++i) {
    std::filesystem::remove_all(out);
    const pid_t pid = spawnQuiet(args);
    std::this_thread::sleep_for(std::chrono::duration<double>(whole * (0.1 + 0.12 * i)));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    if (!std::filesystem::exists(out)) {
      ++absent;
      continue;
    }
    try {
      auto m = loadModel(out, "cpu");
      EXPECT_EQ(m->model->info().layers, 5);
      ++complete;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "kill " << i << " left a model folder that does not load: " << e.what();
    }
  }
  std::cout << "[ kill ] convert-llama2c of " << whole << " s killed 8 times: " << absent << " absent, " << complete
            << " complete\n";
}

}  // namespace
