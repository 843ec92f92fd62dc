// attnscope-cli as a user (or a script) calls it: help on every command, the run
// contract, and exit code 2 with a message naming the culprit on bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <cmath>

#include "attnscope/SafetensorsFile.h"
#include <sys/wait.h>

#include "TestSupport.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

struct Result {
  int code;
  std::string output;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Result cli(const std::vector<std::string>& args) {
  std::string cmd = quote(ATTNSCOPE_CLI_PATH);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(Cli, HelpOnEveryCommand) {
  for (const char* c : {"info", "run", "generate", "compare", "overlay", "prune-sweep", "head", "lens"}) {
    Result r = cli({c, "--help"});
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.output.find("usage: attnscope-cli " + std::string(c)), std::string::npos) << r.output;
  }
  EXPECT_EQ(cli({"--help"}).code, 0);
  EXPECT_EQ(cli({"frobnicate"}).code, 2);
}

TEST(Cli, InfoPrintsTheModelCard) {
  Result r = cli({"info", "--model", realModel("stories260K")});
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* s : {"llama", "layers:       5", "8 query, 4 key/value", "hidden size:  64", "vocabulary:   512",
                        "260032", "F32"})
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
}

TEST(Cli, RunWritesTheCaptureContract) {
  TempDir tmp;
  const std::string out = tmp.file("cap.safetensors");
  Result r = cli({"run", "--model", golden("gpt2-tiny-random"), "--text", "Hello world", "--layers", "1", "--heads",
                  "0,3", "--out", out});
  ASSERT_EQ(r.code, 0) << r.output;
  auto t = readAll(out);
  ASSERT_TRUE(t.count("attentions.1"));
  EXPECT_FALSE(t.count("attentions.0"));
  EXPECT_EQ(t["attentions.1"].sizes(), (at::IntArrayRef{2, 2, 2}));
  EXPECT_EQ(t["logits"].sizes(), (at::IntArrayRef{2, 50257}));
  EXPECT_EQ(t["last_hidden_state"].sizes(), (at::IntArrayRef{2, 16}));
  EXPECT_NE(r.output.find("[ world]"), std::string::npos) << r.output;
}

TEST(Cli, RunWithInputsReproducesGolden) {
  TempDir tmp;
  const std::string dir = golden("bert-tiny-random");
  Result r = cli({"run", "--model", dir, "--inputs", dir + "/expected.safetensors", "--out", tmp.file("c.safetensors")});
  ASSERT_EQ(r.code, 0) << r.output;
  auto got = readAll(tmp.file("c.safetensors"));
  auto expected = readAll(dir + "/expected.safetensors");
  EXPECT_LT(maxAbsDiff(got["attentions.0"], expected["attentions.0"]), 1e-5);
  EXPECT_LT(maxAbsDiff(got["logits"], expected["logits"]), 1e-4);
}

TEST(Cli, GenerateSavesEveryStep) {
  TempDir tmp;
  Result r = cli({"generate", "--model", realModel("stories260K"), "--text", "Once upon a time", "--max-new-tokens",
                  "12", "--out", tmp.file("g.safetensors")});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Once upon a time, there was a little girl"), std::string::npos) << r.output;
  auto t = readAll(tmp.file("g.safetensors"));
  EXPECT_EQ(t["attentions.0"].sizes(), (at::IntArrayRef{8, 17, 17}));  // 5 prompt + 12 generated
  EXPECT_EQ(t["generated_ids"].size(1), 12);
}

TEST(Cli, ErrorsExitWithCode2AndNameTheCulprit) {
  TempDir tmp;
  const std::string out = tmp.file("x.safetensors");
  struct Bad {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Bad> cases = {
      {{"run", "--model", "/no/such/model", "--text", "hi", "--out", out}, "/no/such/model"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--out", out}, "--text"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--text", "hi"}, "--out"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--text", "hi", "--layers", "7", "--out", out}, "layer 7"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--text", "hi", "--heads", "x", "--out", out}, "--heads"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--text", "bad \xFF", "--out", out}, "UTF-8"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--text", "", "--out", out}, "no tokens"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--text", "hi", "--device", "quantum", "--out", out}, "quantum"},
      {{"run", "--model", golden("gpt2-tiny-random"), "--bogus", "1"}, "--bogus"},
      {{"generate", "--model", golden("bert-tiny-random"), "--text", "hi", "--max-new-tokens", "3"}, "cannot generate"},
      {{"generate", "--model", realModel("stories260K"), "--text", "hi", "--max-new-tokens", "many"},
       "--max-new-tokens"},
      {{"info", "--model", golden("tokenizers")}, "config.json"},
  };
  for (const auto& c : cases) {
    Result r = cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args[0] << " " << c.mentions << "\n" << r.output;
    EXPECT_NE(r.output.find(c.mentions), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, CompareWritesReportAndOneCaptureFilePerVariant) {
  TempDir tmp;
  const std::string report = tmp.file("report.json"), caps = tmp.file("caps");
  Result r = cli({"compare", "--model", realModel("stories260K"), "--text", "Once upon a time, there was a girl",
                  "--variant", "window:w=3", "--variant", "prune:heads=L0H1", "--variant", "topk:k=2", "--repeats", "2",
                  "--out", report, "--captures", caps});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("window:w=3"), std::string::npos) << r.output;
  std::ifstream f(report);
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["format"], "attnscope-compare");
  ASSERT_EQ(j["variants"].size(), 4u);
  const std::vector<std::string> specs = {"full", "window:w=3", "prune:heads=L0H1", "topk:k=2"};
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& v = j["variants"][i];
    EXPECT_EQ(v["spec"], specs[i]);
    for (const char* key : {"seconds_median", "attention_flops", "attention_bytes", "peak_bytes", "time_ratio"})
      EXPECT_TRUE(v["cost"].contains(key)) << key;
    EXPECT_TRUE(v["model_metrics"].contains("logits_kl"));
    EXPECT_TRUE(v["layers"][0]["heads"][0].contains("js_mean"));
    // Every number can be re-derived from the capture files: same file contract as `run`, plus the spec.
    auto file = SafetensorsFile::open(v["capture"].get<std::string>());
    const auto meta = nlohmann::json::parse(file->metadata().at("attnscope"));
    if (i > 0) EXPECT_EQ(meta["variant"], specs[i]);
    const int64_t T = static_cast<int64_t>(meta["tokens"].size());
    EXPECT_EQ(file->tensor("attentions.0").sizes(), (std::vector<int64_t>{8, T, T}));
  }
  // window:w=3 on a causal model: each row sees at most its last 3 keys.
  auto w = SafetensorsFile::open(j["variants"][1]["capture"].get<std::string>());
  EXPECT_EQ(w->tensor("attentions.2")[0][-1].gt(0).sum().item<int64_t>(), 3);
}

TEST(Cli, CompareRejectsBadSpecsBeforeLoading) {
  TempDir tmp;
  Result r = cli({"compare", "--model", "/nonexistent", "--text", "x", "--variant", "window:w=-1", "--out",
                  tmp.file("r.json")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("window:w=-1"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("r.json")));
  Result u = cli({"run", "--model", realModel("stories260K"), "--text", "x", "--variant", "prune:heads=L99H0", "--out",
                  tmp.file("c.safetensors")});
  EXPECT_EQ(u.code, 2);
  EXPECT_NE(u.output.find("layer 99 does not exist"), std::string::npos) << u.output;
}

TEST(Cli, ImageAndAudioRunsAndOverlays) {
  TempDir tmp;
  const std::string vit = golden("vit-tiny-random");
  Result r = cli({"run", "--model", vit, "--image", vit + "/input.png", "--out", tmp.file("vit.safetensors")});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"task\":\"classification\""), std::string::npos) << r.output;
  auto cap = SafetensorsFile::open(tmp.file("vit.safetensors"));
  EXPECT_TRUE(cap->has("pixel_values"));
  const auto meta = nlohmann::json::parse(cap->metadata().at("attnscope"));
  EXPECT_EQ(meta["tokens"][5], "(1,0)");
  EXPECT_EQ(meta["layout"]["patch_grid"], nlohmann::json({4, 4}));
  for (const std::vector<std::string> extra : {std::vector<std::string>{"--layer", "1", "--head", "3"},
                                               std::vector<std::string>{"--rollout"}}) {
    std::vector<std::string> args = {"overlay", "--capture", tmp.file("vit.safetensors"), "--out", tmp.file("o.png")};
    args.insert(args.end(), extra.begin(), extra.end());
    Result o = cli(args);
    EXPECT_EQ(o.code, 0) << o.output;
    EXPECT_TRUE(std::filesystem::exists(tmp.file("o.png")));
    std::filesystem::remove(tmp.file("o.png"));
  }
  // Feeding the capture back reproduces it exactly.
  Result again = cli({"run", "--model", vit, "--inputs", tmp.file("vit.safetensors"), "--out", tmp.file("v2.safetensors")});
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_TRUE(SafetensorsFile::open(tmp.file("v2.safetensors"))->tensor("attentions.1").equal(cap->tensor("attentions.1")));

  const std::string kwt = realModel("kwt1");
  Result a = cli({"run", "--model", kwt, "--audio", golden("kwt1-audio") + "/jfk_0.5s_to_1.5s.wav", "--out",
                  tmp.file("kwt.safetensors")});
  ASSERT_EQ(a.code, 0) << a.output;
  EXPECT_NE(a.output.find("\"label\":\"on\""), std::string::npos) << a.output;
  Result ao = cli({"overlay", "--capture", tmp.file("kwt.safetensors"), "--layer", "11", "--head", "0", "--out",
                   tmp.file("k.png")});
  EXPECT_EQ(ao.code, 0) << ao.output;

  const std::string wh = golden("whisper-tiny-random");
  Result g = cli({"generate", "--model", wh, "--audio", wh + "/jfk_2s.wav", "--max-new-tokens", "4", "--out",
                  tmp.file("wh.safetensors")});
  ASSERT_EQ(g.code, 0) << g.output;
  auto w = SafetensorsFile::open(tmp.file("wh.safetensors"));
  EXPECT_EQ(w->tensor("cross_attentions.0").size(1), 5);
  EXPECT_EQ(w->tensor("encoder_attentions.0").size(1), 100);
  const auto wmeta = nlohmann::json::parse(w->metadata().at("attnscope"));
  EXPECT_EQ(wmeta["labels"]["cross"]["key"].size(), 100u);
  EXPECT_EQ(wmeta["labels"]["cross"]["query"].size(), 5u);
  Result wo = cli({"overlay", "--capture", tmp.file("wh.safetensors"), "--stack", "cross", "--layer", "1", "--head",
                   "2", "--query", "4", "--out", tmp.file("w.png")});
  EXPECT_EQ(wo.code, 0) << wo.output;

  // Wrong input kind, bad options: exit code 2 with the culprit named.
  Result bad1 = cli({"run", "--model", vit, "--audio", wh + "/jfk_2s.wav", "--out", tmp.file("x.safetensors")});
  EXPECT_EQ(bad1.code, 2);
  EXPECT_NE(bad1.output.find("not audio"), std::string::npos) << bad1.output;
  Result bad2 = cli({"run", "--model", kwt, "--audio", vit + "/input.png", "--out", tmp.file("x.safetensors")});
  EXPECT_EQ(bad2.code, 2);
  EXPECT_NE(bad2.output.find("input.png"), std::string::npos) << bad2.output;
  Result bad3 = cli({"overlay", "--capture", tmp.file("vit.safetensors"), "--layer", "7", "--head", "0", "--out",
                     tmp.file("x.png")});
  EXPECT_EQ(bad3.code, 2);
  EXPECT_NE(bad3.output.find("layer 7 of stack 'self' was not captured (captured: 0,1)"), std::string::npos)
      << bad3.output;
  Result bad4 = cli({"run", "--model", kwt, "--text", "x", "--audio", wh + "/jfk_2s.wav", "--out", tmp.file("x.s")});
  EXPECT_EQ(bad4.code, 2);
}

TEST(Cli, FigureWritesPngSvgAndPdf) {
  TempDir tmp;
  const std::string model = realModel("stories260K");
  ASSERT_EQ(cli({"compare", "--model", model, "--text", "Once upon a time, there was a girl", "--variant", "window:w=3",
                 "--repeats", "1", "--out", tmp.file("r.json"), "--captures", tmp.file("caps")})
                .code,
            0);
  const std::string full = tmp.file("caps") + "/00-full.safetensors", win = tmp.file("caps") + "/01-window_w_3.safetensors";
#ifndef ATTNSCOPE_TEST_FIGURES
  Result r = cli({"figure", "--capture", full, "--layer", "0", "--head", "0", "--out", tmp.file("f.png")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("without Qt"), std::string::npos) << r.output;
  // The analyses refuse --figure before they run, so no half of the request is written.
  for (const std::string command : {"attribute", "deletion", "flow-graph"}) {
    std::vector<std::string> args = {command, "--model", model, "--text", "Once upon a time", "--out",
                                     tmp.file(command + ".json"), "--figure", tmp.file(command + ".svg")};
    if (command == "attribute") args.insert(args.end(), {"--method", "rollout"});
    if (command == "deletion") args.insert(args.end(), {"--methods", "rollout"});
    Result a = cli(args);
    EXPECT_EQ(a.code, 2) << command;
    EXPECT_NE(a.output.find("without Qt"), std::string::npos) << a.output;
    EXPECT_FALSE(std::filesystem::exists(tmp.file(command + ".json"))) << command;
  }
#else
  auto read = [](const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), {});
  };
  // PNG at 144 dpi: 720 x 640 points -> 1440 x 1280 pixels (IHDR width/height, big-endian).
  Result png = cli({"figure", "--capture", full, "--layer", "2", "--head", "5", "--dpi", "144", "--out", tmp.file("f.png")});
  ASSERT_EQ(png.code, 0) << png.output;
  const std::string p = read(tmp.file("f.png"));
  ASSERT_GT(p.size(), 24u);
  EXPECT_EQ(p.substr(1, 3), "PNG");
  auto be32 = [&](size_t o) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(p[o])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(p[o + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(p[o + 2])) << 8) | static_cast<unsigned char>(p[o + 3]);
  };
  EXPECT_EQ(be32(16), 1440u);
  EXPECT_EQ(be32(20), 1280u);
  // SVG: XML with an <svg> root, vector text for the labels.
  Result svg = cli({"figure", "--capture", full, "--layer", "2", "--head", "5", "--out", tmp.file("f.svg")});
  ASSERT_EQ(svg.code, 0) << svg.output;
  const std::string s = read(tmp.file("f.svg"));
  EXPECT_EQ(s.rfind("<?xml", 0), 0u);
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
  EXPECT_NE(s.find("<text"), std::string::npos) << "labels stay text";
  // PDF: header and exactly one page; compare on one page too.
  for (const std::vector<std::string> extra :
       {std::vector<std::string>{"--layer", "1", "--head", "0"}, std::vector<std::string>{"--compare", win, "--layer", "1", "--head", "0"},
        std::vector<std::string>{"--grid"}}) {
    std::vector<std::string> args = {"figure", "--capture", full, "--format", "pdf", "--out", tmp.file("f.pdf")};
    args.insert(args.end(), extra.begin(), extra.end());
    Result pdf = cli(args);
    ASSERT_EQ(pdf.code, 0) << pdf.output;
    const std::string d = read(tmp.file("f.pdf"));
    EXPECT_EQ(d.rfind("%PDF-", 0), 0u);
    size_t pages = 0;
    for (size_t at = d.find("/Type /Page"); at != std::string::npos; at = d.find("/Type /Page", at + 1))
      if (d.compare(at, 12, "/Type /Pages") != 0) ++pages;
    EXPECT_EQ(pages, 1u);
  }
  // Bad requests: exit code 2, and the existing output is left alone.
  Result bad = cli({"figure", "--capture", full, "--layer", "9", "--head", "0", "--out", tmp.file("f.png")});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("layer 9"), std::string::npos) << bad.output;
  EXPECT_EQ(read(tmp.file("f.png")), p);
  EXPECT_EQ(cli({"figure", "--capture", full, "--layer", "0", "--head", "0", "--format", "gif", "--out", tmp.file("x.gif")}).code, 2);
#endif
}

}  // namespace

TEST(Cli, PruneSweepPrunesNestedPrefixesOfTheImportanceRanking) {
  TempDir tmp;
  const std::string sweep = tmp.file("sweep.json"), figure = tmp.file("sweep.svg"), report = tmp.file("r.json");
  const std::string text = "Once upon a time, there was a little girl named Lily. She loved to play outside.";
  std::vector<std::string> args = {"prune-sweep", "--model", realModel("stories260K"), "--text", text,
                                   "--ratios", "0,0.1,0.25,0.3,0.6,0.9", "--out", sweep};
#ifdef ATTNSCOPE_TEST_FIGURES  // the figure needs the Qt build of the CLI
  args.insert(args.end(), {"--figure", figure});
#endif
  Result r = cli(args);
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream f(sweep);
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["order"], "importance");
  const int total = j["total_heads"].get<int>();
  EXPECT_EQ(total, 5 * 8);
  ASSERT_EQ(j["ranking"].size(), 40u);
  ASSERT_EQ(j["points"].size(), 6u);
  std::set<std::string> previous;
  for (const auto& p : j["points"]) {
    const double ratio = p["ratio"].get<double>();
    const std::set<std::string> pruned(p["pruned"].begin(), p["pruned"].end());
    EXPECT_EQ(pruned.size(), static_cast<size_t>(std::lround(ratio * total))) << ratio;
    EXPECT_EQ(pruned.size(), p["pruned"].size()) << "no head twice";
    for (const auto& h : previous) EXPECT_TRUE(pruned.count(h)) << h << " pruned at a lower ratio but not at " << ratio;
    previous = pruned;
    for (const char* key : {"logits_kl", "top1_agreement", "js_mean", "ms"}) EXPECT_TRUE(p[key].is_number()) << key;
  }
  EXPECT_DOUBLE_EQ(j["points"][0]["logits_kl"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["points"][0]["top1_agreement"].get<double>(), 1.0);
  EXPECT_GT(j["points"][5]["logits_kl"].get<double>(), j["points"][1]["logits_kl"].get<double>());
  EXPECT_LT(j["points"][5]["top1_agreement"].get<double>(), 1.0);
  // The 30 % point prunes exactly the heads `prune:ratio=0.3` prunes (the variant ranks them independently).
  Result c = cli({"compare", "--model", realModel("stories260K"), "--text", text, "--variant", "prune:ratio=0.3",
                  "--repeats", "1", "--out", report});
  ASSERT_EQ(c.code, 0) << c.output;
  std::ifstream rf(report);
  const nlohmann::json rep = nlohmann::json::parse(rf);
  const auto& names = rep["variants"][1]["details"]["pruned_heads"];
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            std::set<std::string>(j["points"][3]["pruned"].begin(), j["points"][3]["pruned"].end()));
  EXPECT_NEAR(rep["variants"][1]["model_metrics"]["logits_kl"].get<double>(),
              j["points"][3]["logits_kl"].get<double>(), 1e-9);
#ifdef ATTNSCOPE_TEST_FIGURES
  // The figure is a complete SVG with the axis title.
  std::ifstream sf(figure);
  const std::string svg((std::istreambuf_iterator<char>(sf)), std::istreambuf_iterator<char>());
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("fraction of heads pruned"), std::string::npos);
#endif
}

TEST(Cli, PruneSweepRandomOrderIsSeededAndBadRatiosAreRefused) {
  TempDir tmp;
  auto ranking = [&](const std::string& seed) {
    const std::string out = tmp.file("s" + seed + ".json");
    Result r = cli({"prune-sweep", "--model", realModel("stories260K"), "--text", "Once upon a time", "--order", "random",
                    "--seed", seed, "--ratios", "0.5", "--out", out});
    EXPECT_EQ(r.code, 0) << r.output;
    std::ifstream f(out);
    return nlohmann::json::parse(f)["ranking"];
  };
  EXPECT_EQ(ranking("7"), ranking("7"));
  EXPECT_NE(ranking("7"), ranking("8"));
  Result bad = cli({"prune-sweep", "--model", realModel("stories260K"), "--text", "x", "--ratios", "0,1.5", "--out",
                    tmp.file("bad.json")});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("'1.5'"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("bad.json")));
  Result order = cli({"prune-sweep", "--model", realModel("stories260K"), "--text", "x", "--order", "magic", "--out",
                      tmp.file("bad.json")});
  EXPECT_EQ(order.code, 2);
  EXPECT_NE(order.output.find("importance, entropy or random"), std::string::npos) << order.output;
}
