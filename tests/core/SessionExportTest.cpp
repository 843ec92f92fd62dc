// Session files (.attnscope) and data export (NPY, CSV, comparison CSV): round trips against the values put in,
// NumPy itself reading our .npy, and bad files failing with a clear InputError.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/DataExport.h"
#include "attnscope/Errors.h"
#include "attnscope/SafetensorsFile.h"
#include "attnscope/SessionFile.h"

namespace attnscope {
namespace {

namespace fs = std::filesystem;

CaptureResult sampleCapture(float seed) {
  CaptureResult c;
  c.stacks = {"encoder", "cross"};
  c.stackQueryLabels = {{"0.00s", "0.02s", "0.04s"}, {"<|startoftranscript|>", " the"}};
  c.stackKeyLabels = {{"0.00s", "0.02s", "0.04s"}, {"0.00s", "0.02s", "0.04s"}};
  c.variant = "window:w=2";
  c.predictionJson = R"({"task":"x"})";
  c.predictionText = "class: yes (p = 0.9)";
  c.seconds = 0.125;
  for (int l = 0; l < 2; ++l) {
    AttentionMatrix a;
    a.stack = "encoder";
    a.layer = l;
    a.headIndex = {1, 3};  // a head selection
    a.heads = 2;
    a.q = a.k = 3;
    for (int i = 0; i < 18; ++i) a.data.push_back(seed + 0.01f * i + l);
    c.layers.push_back(a);
  }
  AttentionMatrix x;
  x.stack = "cross";
  x.layer = 0;
  x.headIndex = {0};
  x.heads = 1;
  x.q = 2;
  x.k = 3;
  x.data = {0.1f, 0.2f, 0.7f, 0.5f, 0.25f, 0.25f};
  c.layers.push_back(x);
  c.queryLabels = c.stackQueryLabels[0];
  c.keyLabels = c.stackKeyLabels[0];
  return c;
}

void expectSame(const CaptureResult& a, const CaptureResult& b) {
  EXPECT_EQ(a.stacks, b.stacks);
  EXPECT_EQ(a.stackQueryLabels, b.stackQueryLabels);
  EXPECT_EQ(a.stackKeyLabels, b.stackKeyLabels);
  EXPECT_EQ(a.variant, b.variant);
  EXPECT_EQ(a.predictionJson, b.predictionJson);
  EXPECT_EQ(a.predictionText, b.predictionText);
  EXPECT_EQ(a.seconds, b.seconds);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (const auto& m : a.layers) {
    const AttentionMatrix* n = b.find(m.stack, m.layer);
    ASSERT_NE(n, nullptr) << m.stack << " " << m.layer;
    EXPECT_EQ(m.headIndex, n->headIndex);
    EXPECT_EQ(m.heads, n->heads);
    EXPECT_EQ(m.q, n->q);
    EXPECT_EQ(m.k, n->k);
    EXPECT_EQ(m.data, n->data);  // bit for bit
  }
}

fs::path writeTemp(const std::string& name, const std::string& bytes) {
  const fs::path p = fs::temp_directory_path() / ("attnscope-test-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

/// What reading \p p as a session says: the InputError's message, or "no error".
std::string readError(const fs::path& p) {
  try {
    readSession(p.string());
  } catch (const InputError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}

TEST(SessionFile, RoundTripKeepsStateCapturesAndComparison) {
  SessionData d;
  d.stateJson = R"({"model":"/m","view":{"layer":1,"head":3}})";
  d.capture = std::make_shared<CaptureResult>(sampleCapture(0.0f));
  auto cmp = std::make_shared<ComparisonResult>();
  cmp->layers = 2;
  cmp->heads = 4;
  cmp->reportJson = R"({"format":"attnscope-compare"})";
  for (int i = 0; i < 2; ++i) {
    VariantPanel p;
    p.spec = i ? "topk:k=2" : "full";
    p.capture = sampleCapture(0.5f * i);
    p.seconds = 0.01 * (i + 1);
    p.timeRatio = 1.5;
    p.flopsRatio = 0.25;
    p.memoryRatio = 0.5;
    p.meanJs = 0.125;
    p.top1Agreement = 0.75;
    p.logitsKl = 0.0625;
    for (int k = 0; k < 8; ++k) p.jsGrid.push_back(0.01f * k + i);
    cmp->panels.push_back(p);
  }
  d.comparison = cmp;
  const fs::path path = writeTemp("s.attnscope", encodeSession(d));
  const SessionData r = readSession(path.string());
  EXPECT_EQ(nlohmann::json::parse(r.stateJson), nlohmann::json::parse(d.stateJson));
  ASSERT_TRUE(r.capture);
  expectSame(*d.capture, *r.capture);
  ASSERT_TRUE(r.comparison);
  EXPECT_EQ(r.comparison->layers, 2);
  EXPECT_EQ(r.comparison->heads, 4);
  EXPECT_EQ(r.comparison->reportJson, cmp->reportJson);
  ASSERT_EQ(r.comparison->panels.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const VariantPanel &a = cmp->panels[i], &b = r.comparison->panels[i];
    EXPECT_EQ(a.spec, b.spec);
    expectSame(a.capture, b.capture);
    EXPECT_EQ(a.jsGrid, b.jsGrid);
    EXPECT_EQ(a.seconds, b.seconds);
    EXPECT_EQ(a.timeRatio, b.timeRatio);
    EXPECT_EQ(a.flopsRatio, b.flopsRatio);
    EXPECT_EQ(a.memoryRatio, b.memoryRatio);
    EXPECT_EQ(a.meanJs, b.meanJs);
    EXPECT_EQ(a.top1Agreement, b.top1Agreement);
    EXPECT_EQ(a.logitsKl, b.logitsKl);
  }
  fs::remove(path);
}

TEST(SessionFile, StateOnlyAndBadFiles) {
  SessionData d;
  d.stateJson = R"({"model":"/m"})";
  const std::string bytes = encodeSession(d);
  const fs::path ok = writeTemp("state.attnscope", bytes);
  const SessionData r = readSession(ok.string());
  EXPECT_FALSE(r.capture);
  EXPECT_FALSE(r.comparison);
  d.stateJson = "[1, 2]";
  EXPECT_THROW(encodeSession(d), InputError);  // state must be an object

  const fs::path truncated = writeTemp("t.attnscope", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(readError(truncated).find("session"), std::string::npos) << readError(truncated);
  const fs::path garbage = writeTemp("g.attnscope", "hello, not a session");
  EXPECT_NE(readError(garbage), "no error");
  // A capture file is a safetensors file but not a session.
  SafetensorsWriter w;
  w.add("attentions.0", at::zeros({1, 2, 2}));
  w.setMetadata("attnscope", "{}");
  const fs::path capture = writeTemp("c.safetensors", w.bytes());
  EXPECT_NE(readError(capture).find("is not an AttnScope session"), std::string::npos) << readError(capture);
  // A session whose labels do not match its tensors.
  SessionData bad;
  auto c = std::make_shared<CaptureResult>(sampleCapture(0.0f));
  c->stackQueryLabels[0].pop_back();
  bad.capture = c;
  const fs::path mismatch = writeTemp("m.attnscope", encodeSession(bad));
  EXPECT_NE(readError(mismatch).find("does not match the labels"), std::string::npos) << readError(mismatch);
  for (const auto& p : {ok, truncated, garbage, capture, mismatch}) fs::remove(p);
}

/// A long input's capture kept as queries and keys is stored in the session as what its cells are computed from:
/// after the round trip every head of every stack gives the same cells, bit for bit, as the run that made it, and
/// those equal the probabilities a probabilities run keeps (T5: encoder, decoder, cross stacks and a relative
/// position bias stored as diagonals; the GQA Llama: grouped key heads). A session missing one of those tensors, or
/// whose queries disagree with its labels, is an InputError naming the tensor.
TEST(SessionFile, QueryKeyCaptureRoundTripsExactly) {
  for (const std::string name : {"t5-tiny-random", "llama-gqa-random"}) {
    auto [probs, run] = test::runBothStores(name);
    auto qk = std::make_shared<CaptureResult>(std::move(run));
    ASSERT_TRUE(qk->onDemand()) << name;
    SessionData d;
    d.stateJson = R"({"store":"qk"})";
    d.capture = qk;
    const fs::path path = writeTemp(name + ".attnscope", encodeSession(d));
    const SessionData r = readSession(path.string());
    ASSERT_TRUE(r.capture && r.capture->onDemand()) << name;
    EXPECT_EQ(r.stateJson, R"({"store":"qk"})");
    EXPECT_EQ(r.capture->stacks, qk->stacks);
    EXPECT_EQ(r.capture->stackQueryLabels, qk->stackQueryLabels);
    ASSERT_EQ(r.capture->layers.size(), qk->layers.size());
    int heads = 0;
    for (size_t i = 0; i < qk->layers.size(); ++i) {
      const AttentionMatrix& a = qk->layers[i];
      const AttentionMatrix& b = r.capture->layers[i];
      EXPECT_EQ(b.stack, a.stack);
      EXPECT_EQ(b.layer, a.layer);
      EXPECT_EQ(b.headIndex, a.headIndex);
      EXPECT_EQ(b.onDemand, a.onDemand) << a.stack << " " << a.layer;
      if (!a.onDemand) {  // a bias stack: dense as before
        EXPECT_EQ(b.data, a.data);
        continue;
      }
      ASSERT_EQ(b.q, a.q);
      ASSERT_EQ(b.k, a.k);
      const AttentionMatrix* p = probs.find(a.stack, a.layer);
      ASSERT_TRUE(p && !p->onDemand);
      for (int h = 0; h < a.heads; ++h) {
        const auto before = qk->source->cells(a.stack, a.layer, h, 0, a.q, 0, a.k);
        const auto after = r.capture->source->cells(b.stack, b.layer, h, 0, b.q, 0, b.k);
        ASSERT_EQ(after, before) << name << " " << a.stack << " L" << a.layer << "H" << h;
        double worst = 0;
        for (int i2 = 0; i2 < a.q; ++i2)
          for (int j = 0; j < a.k; ++j)
            worst = std::max(worst, std::abs(static_cast<double>(after[static_cast<size_t>(i2) * a.k + j]) - p->at(h, i2, j)));
        EXPECT_LT(worst, 1e-6) << name << " " << a.stack << " L" << a.layer << "H" << h;
        ++heads;
      }
    }
    EXPECT_GT(heads, 3) << name;

    // Damaged copies: one tensor left out, then queries that do not match the labels.
    const auto file = SafetensorsFile::open(path.string());
    const AttentionMatrix& last = qk->layers.front();
    const std::string base = "capture/" + last.stack + "/" + std::to_string(last.layer);
    auto rewrite = [&](const std::string& drop, const std::string& shorten) {
      SafetensorsWriter w;
      for (const auto& n : file->names()) {
        if (n == drop) continue;
        at::Tensor t = file->tensor(n);
        if (n == shorten) t = t.narrow(1, 0, t.size(1) - 1);  // one query row fewer
        w.add(n, t);
      }
      for (const auto& [k, v] : file->metadata()) w.setMetadata(k, v);
      return writeTemp("damaged.attnscope", w.bytes());
    };
    const fs::path missing = rewrite(base + "/lse", "");
    EXPECT_NE(readError(missing).find(base), std::string::npos) << readError(missing);
    EXPECT_NE(readError(missing).find("lse tensor is missing"), std::string::npos) << readError(missing);
    const fs::path shorter = rewrite("", base + "/queries");
    EXPECT_NE(readError(shorter).find("do not fit together"), std::string::npos) << readError(shorter);
    fs::remove(missing);
    fs::remove(shorter);
    fs::remove(path);
  }
}

TEST(DataExport, NumpyReadsOurNpy) {
  std::vector<float> v;
  for (int i = 0; i < 3 * 5; ++i) v.push_back(0.5f * i - 1.0f / 3.0f);
  const fs::path p = writeTemp("h.npy", encodeNpy(v, 3, 5));
  const std::string cmd = "/usr/bin/python3 -c \"import numpy; a = numpy.load('" + p.string() +
                          "'); print(a.dtype, a.shape, a.flags['C_CONTIGUOUS'], repr(float(a[2, 3])))\"";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[256] = {0};
  const size_t n = fread(buf, 1, sizeof buf - 1, pipe);
  ASSERT_EQ(pclose(pipe), 0) << "numpy could not read the file (python3-numpy comes with python3-torch)";
  const std::string out(buf, n);
  const std::string prefix = "float32 (3, 5) True ";
  ASSERT_EQ(out.substr(0, prefix.size()), prefix) << out;
  EXPECT_EQ(static_cast<float>(std::strtod(out.c_str() + prefix.size(), nullptr)), v[2 * 5 + 3]) << out;
  EXPECT_THROW(encodeNpy(v, 4, 4), InputError);
  fs::remove(p);
}

TEST(DataExport, CsvQuotesLabelsAndKeepsValues) {
  const std::string csv = encodeCsv({0.25f, 0.75f, 1.0f, 0.0f}, 2, 2, {" the", "a,b"}, {"say \"hi\"", "x"});
  EXPECT_EQ(csv,
            "\"query \\ key\",\"say \"\"hi\"\"\",x\n"
            "\" the\",0.25,0.75\n"
            "\"a,b\",1,0\n");
}

TEST(DataExport, ComparisonCsvHasOneRowPerHead) {
  const nlohmann::json report = nlohmann::json::parse(R"({
    "format": "attnscope-compare",
    "variants": [
      {"spec": "full",
       "cost": {"seconds_median": 0.5, "time_ratio": 1.0, "flops_ratio": 1.0, "attention_bytes_ratio": 1.0},
       "model_metrics": {"logits_kl": 0.0, "top1_agreement": 1.0},
       "layers": [{"stack": "self", "layer": 0, "hidden_rel_l2": 0.0, "heads": [{"head": 0, "js_mean": 0.0}]}]},
      {"spec": "window:w=2",
       "cost": {"seconds_median": 0.25, "time_ratio": 0.5, "flops_ratio": 0.125, "attention_bytes_ratio": 0.25},
       "model_metrics": {"logits_kl": 0.75, "top1_agreement": 0.5},
       "layers": [{"stack": "self", "layer": 3, "hidden_rel_l2": 0.0625,
                   "heads": [{"head": 1, "js_mean": 0.125, "js_max": 0.5, "kl_mean": 2.5, "top5_overlap": 0.8,
                              "output_cosine": 0.9, "l2_full": 1.5, "l2_variant": 2.0}]}]}
    ]})");
  const std::string csv = comparisonCsv(report.dump());
  EXPECT_EQ(csv,
            "variant,stack,layer,head,js_mean,js_max,kl_mean,top5_overlap,output_cosine,l2_full,l2_variant,"
            "hidden_rel_l2,seconds_median,time_ratio,flops_ratio,attention_bytes_ratio,logits_kl,top1_agreement\n"
            "full,self,0,0,0,,,,,,,0,0.5,1,1,1,0,1\n"
            "window:w=2,self,3,1,0.125,0.5,2.5,0.8,0.9,1.5,2,0.0625,0.25,0.5,0.125,0.25,0.75,0.5\n");
  EXPECT_THROW(comparisonCsv("{\"format\": \"other\"}"), InputError);
  EXPECT_THROW(comparisonCsv("not json"), InputError);
}

}  // namespace
}  // namespace attnscope
