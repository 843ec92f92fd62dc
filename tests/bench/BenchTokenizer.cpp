// Tokenization throughput: our tokenizer.json pipeline against @lenml/tokenizers (npm; the transformers.js
// tokenizers) in node on the same 1 MB of mixed English / code / CJK text, one process each, alternating, one core
// each. Prints per-round times, MB/s and the ratio; checks both produce the same ids.
// usage: bench_tokenizer MODEL_DIR [NODE_MODULES_PARENT] [ROUNDS]
//   NODE_MODULES_PARENT: a folder whose node_modules holds @lenml/tokenizers (tests/bench/tokenizer_bench.sh makes it)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "attnscope/Tokenizer.h"

namespace {

/// 1 MB of deterministic mixed text: English prose, Python/C++ code, Chinese and Japanese, digits and emoji.
std::string mixedText(size_t bytes) {
  const char* english[] = {"The quick brown fox jumps over the lazy dog. ", "Attention heads specialise in syntax; ",
                           "we measured 12,345 tokens at 0.87 s each, ", "don't you think they'll notice? ",
                           "Researchers compared pruned and full models.\n"};
  const char* code[] = {"def forward(self, x):\n    return self.proj(x) * 2\n",
                        "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n",
                        "    if not tokens:\n        raise ValueError(\"empty\")\n", "const auto it = m.find(key);\n"};
  const char* cjk[] = {"注意力机制是变换器模型的核心。", "日本語のテキストも含まれています。", "模型有十二层，每层八个头。",
                       "🙂 👍🏽 ", "한국어 문장도 있습니다. "};
  std::mt19937 rng(7);
  std::string out;
  while (out.size() < bytes) {
    const int kind = static_cast<int>(rng() % 10);
    if (kind < 5) out += english[rng() % 5];
    else if (kind < 8) out += code[rng() % 4];
    else out += cjk[rng() % 5];
  }
  return out;
}

double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_tokenizer MODEL_DIR [NODE_MODULES_PARENT] [ROUNDS]\n";
    return 2;
  }
  const std::string dir = argv[1];
  const std::string nodeDir = argc > 2 ? argv[2] : "";
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  auto tok = attnscope::Tokenizer::load(dir);
  if (!tok) {
    std::cerr << "no tokenizer in " << dir << "\n";
    return 2;
  }
  const std::string text = mixedText(1 << 20);
  const std::string textFile = "/tmp/attnscope-bench-tokenizer.txt";
  std::ofstream(textFile, std::ios::binary) << text;
  const double mb = static_cast<double>(text.size()) / (1 << 20);
  tok->tokenize(text.substr(0, 20000));  // warm-up, like the node side
  std::vector<double> ours, theirs;
  std::vector<int64_t> ids;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ids = tok->tokenize(text).ids;
    ours.push_back(seconds(t0, std::chrono::steady_clock::now()));
    std::printf("round %d  attnscope   %.3f s  (%.2f MB/s, %zu tokens)\n", r, ours.back(), mb / ours.back(), ids.size());
    if (nodeDir.empty()) continue;
    const std::string script = std::string(ATTNSCOPE_SOURCE_DIR) + "/tests/bench/lenml_tokenize.mjs";
    // node resolves the package from the script's folder upwards, so run a copy of the script beside node_modules.
    const std::string copy = nodeDir + "/lenml_tokenize.mjs";
    std::ifstream src(script, std::ios::binary);
    std::ofstream(copy, std::ios::binary) << src.rdbuf();
    FILE* p = popen(("node '" + copy + "' '" + dir + "' '" + textFile + "'").c_str(), "r");
    std::string line;
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p)) line += buf;
    if (p) pclose(p);
    try {
      const auto j = nlohmann::json::parse(line);
      theirs.push_back(j["seconds"].get<double>());
      const auto first = j["first"].get<std::vector<int64_t>>();
      int64_t sum = 0;
      for (size_t i = 0; i < ids.size(); ++i)
        sum = (sum + static_cast<int64_t>(i % 1000003 + 1) * ids[i]) % 2147483647;
      const bool same = j["tokens"].get<size_t>() == ids.size() &&
                        std::equal(first.begin(), first.end(), ids.begin()) && j["checksum"].get<int64_t>() == sum;
      std::printf("round %d  @lenml/tok  %.3f s  (%.2f MB/s, %zu tokens)%s\n", r, theirs.back(), mb / theirs.back(),
                  j["tokens"].get<size_t>(), same ? "  same ids" : "  IDS DIFFER");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "node side failed (%s): %s\n", e.what(), line.c_str());
      return 1;
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("median attnscope %.3f s (%.2f MB/s)\n", median(ours), mb / median(ours));
  if (!theirs.empty())
    std::printf("median @lenml    %.3f s (%.2f MB/s)\nratio: attnscope is %.2fx faster (one core each)\n",
                median(theirs), mb / median(theirs), median(theirs) / median(ours));
  return 0;
}
