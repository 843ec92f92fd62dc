#include "attnscope/Compare.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/xlogy.h>
#include <ATen/ops/zeros.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "attnscope/Errors.h"

namespace attnscope {

// ---- metrics -----------------------------------------------------------------------------------------------

// The metrics keep the dtype they are given (the comparison engine passes float32 captures; the tests pass
// float64 hand-made rows). JS uses H(M) − (H(P) + H(Q))/2, three passes instead of four.
at::Tensor jsDivergenceRows(const at::Tensor& p, const at::Tensor& q) {
  const at::Tensor m = (p + q) * 0.5;  // [..., k]
  at::Tensor js = (at::xlogy(p, p).sum(-1) + at::xlogy(q, q).sum(-1)) * 0.5 - at::xlogy(m, m).sum(-1);  // [...]
  js = js.clamp_min(0.0);
  return js.masked_fill(q.sum(-1).le(0.0), std::log(2.0));
}

at::Tensor klDivergenceRows(const at::Tensor& p, const at::Tensor& q, double floor) {
  return (at::xlogy(p, p) - p * q.clamp_min(floor).log()).sum(-1).clamp_min(0.0);  // [...]
}

at::Tensor topkOverlapRows(const at::Tensor& p, const at::Tensor& q, int64_t k) {
  k = std::min<int64_t>(k, p.size(-1));
  const at::Tensor ip = std::get<1>(p.topk(k, -1)), iq = std::get<1>(q.topk(k, -1));  // [..., k]
  const at::Tensor same = ip.unsqueeze(-1).eq(iq.unsqueeze(-2)).any(-1);              // [..., k]
  at::Tensor overlap = same.to(at::kDouble).sum(-1) / static_cast<double>(k);         // [...]
  return overlap.masked_fill(q.sum(-1).le(0.0), 0.0);
}

double l2Regularizer(const at::Tensor& a) { return 0.5 * a.pow(2).sum(at::kDouble).item<double>(); }

double cosineSimilarity(const at::Tensor& aIn, const at::Tensor& bIn) {
  const at::Tensor a = aIn.to(at::kDouble).flatten(), b = bIn.to(at::kDouble).flatten();
  const double na = a.norm().item<double>(), nb = b.norm().item<double>();
  if (na == 0 && nb == 0) return 1.0;
  if (na == 0 || nb == 0) return 0.0;
  return (a * b).sum().item<double>() / (na * nb);
}

double relativeL2(const at::Tensor& a, const at::Tensor& b) {
  const double nb = b.to(at::kDouble).norm().item<double>();
  const double nd = (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>();
  if (nb == 0) return nd == 0 ? 0.0 : INFINITY;
  return nd / nb;
}

// ---- measured memory ---------------------------------------------------------------------------------------

namespace {

/// Wraps LibTorch's CPU allocator and counts live tensor bytes and their peak. Data pointers are handed out
/// exactly as the default allocator makes them (context == data, so raw_allocate() keeps working); sizes are
/// remembered per pointer for the deleter.
class TrackingAllocator final : public c10::Allocator {
 public:
  explicit TrackingAllocator(c10::Allocator* base) : m_base(base), m_baseDeleter(base->raw_deleter()) {}

  c10::DataPtr allocate(size_t n) const override {
    c10::DataPtr inner = m_base->allocate(n);
    void* data = inner.get();
    if (!m_baseDeleter || inner.get_context() != data) return inner;  // cannot track this one; hand it on
    inner.release_context();
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_sizes[data] = static_cast<int64_t>(n);
    }
    const int64_t now = m_live.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t peak = m_peak.load();
    while (now > peak && !m_peak.compare_exchange_weak(peak, now)) {
    }
    return c10::DataPtr(data, data, &TrackingAllocator::release, c10::Device(c10::kCPU));
  }
  c10::DeleterFnPtr raw_deleter() const override { return &TrackingAllocator::release; }

  /// Starts a measurement; returns the bytes live now.
  int64_t reset() {
    const int64_t live = m_live.load();
    m_peak.store(live);
    return live;
  }
  int64_t peak() const { return m_peak.load(); }

  static TrackingAllocator* s_instance;

 private:
  static void release(void* p) {
    TrackingAllocator* t = s_instance;
    int64_t size = 0;
    {
      std::lock_guard<std::mutex> lock(t->m_mutex);
      auto it = t->m_sizes.find(p);
      if (it != t->m_sizes.end()) {
        size = it->second;
        t->m_sizes.erase(it);
      }
    }
    t->m_live.fetch_sub(size);
    t->m_baseDeleter(p);
  }
  c10::Allocator* m_base;
  c10::DeleterFnPtr m_baseDeleter;
  mutable std::mutex m_mutex;
  mutable std::unordered_map<void*, int64_t> m_sizes;
  mutable std::atomic<int64_t> m_live{0};
  mutable std::atomic<int64_t> m_peak{0};
};

TrackingAllocator* TrackingAllocator::s_instance = nullptr;

TrackingAllocator& tracker() {
  // Installed once, lives for the whole process (tensors it allocated keep pointing at it).
  static TrackingAllocator* t = [] {
    auto* a = new TrackingAllocator(c10::GetDefaultCPUAllocator());
    TrackingAllocator::s_instance = a;
    c10::SetCPUAllocator(a, 1);
    return a;
  }();
  return *t;
}

/// A hook that wants nothing: timed runs measure the variant's own computation.
class NullHook : public AttentionHook {
 public:
  explicit NullHook(RunControl* control) : m_control(control) {}
  bool wantsProbabilities(const AttentionSite&) const override { return false; }
  void onProbabilities(const AttentionSite&, at::Tensor&, int64_t) override {
    if (m_control && m_control->cancel.load()) throw CancelledError();
  }

 private:
  RunControl* m_control;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

nlohmann::json finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

/// Model-level agreement of the final logits.
nlohmann::json predictionMetrics(const ModelInfo& info, const TensorMap& full, const TensorMap& variant) {
  nlohmann::json j;
  auto f = full.find("logits"), v = variant.find("logits");
  if (f == full.end() || v == variant.end()) {
    auto hf = full.find("last_hidden_state"), hv = variant.find("last_hidden_state");
    if (hf != full.end() && hv != variant.end()) j["last_hidden_rel_l2"] = finite(relativeL2(hv->second, hf->second));
    return j;
  }
  const at::Tensor lf = f->second.to(at::kDouble), lv = v->second.to(at::kDouble);  // [T, V] or [labels]
  const at::Tensor pf = at::softmax(lf, -1);                                         // [T, V]
  const at::Tensor kl = (pf * (at::log_softmax(lf, -1) - at::log_softmax(lv, -1))).sum(-1);  // [T] or []
  const at::Tensor agree = lf.argmax(-1).eq(lv.argmax(-1)).to(at::kDouble);                 // [T] or []
  j["logits_kl"] = finite(kl.mean().item<double>());
  j["top1_agreement"] = agree.mean().item<double>();
  if (lf.dim() == 2) {
    j["logits_kl_last"] = finite(kl[-1].item<double>());
    j["top1_agreement_last"] = agree[-1].item<double>();
  }
  return j;
}

/// Per-layer statistics of the baseline, computed once and reused for every variant.
struct BaselineLayer {
  at::Tensor negEntropy;  // [heads, q]  Σ p log p
  at::Tensor top;         // [heads, q, 5] indices of the 5 largest weights
};
using Baseline = std::map<std::pair<std::string, int>, BaselineLayer>;

Baseline baselineStats(const VariantOutcome& full) {
  Baseline b;
  for (const auto& [key, pf] : full.run.capture->records()) {
    const int64_t k = std::min<int64_t>(5, pf.size(-1));
    b[key] = {at::xlogy(pf, pf).sum(-1), std::get<1>(pf.topk(k, -1))};
  }
  return b;
}

/// Same definitions as jsDivergenceRows / klDivergenceRows / topkOverlapRows, arranged so that one log of the
/// variant's matrix serves JS and KL and the baseline's terms are reused: about half the passes.
nlohmann::json layerMetrics(const Baseline& base, const VariantOutcome& full, const VariantOutcome& var) {
  nlohmann::json layers = nlohmann::json::array();
  const auto& fr = full.run.capture->records();
  const auto& vr = var.run.capture->records();
  const auto& fo = full.run.capture->headOutputs();
  const auto& vo = var.run.capture->headOutputs();
  const auto& fl = full.run.capture->layerOutputs();
  const auto& vl = var.run.capture->layerOutputs();
  for (const auto& [key, pf] : fr) {
    auto it = vr.find(key);
    if (it == vr.end()) continue;
    const at::Tensor& pv = it->second;  // [heads, q, k]
    const BaselineLayer& b = base.at(key);
    nlohmann::json L = {{"stack", key.first}, {"layer", key.second}};
    auto hf = fl.find(key), hv = vl.find(key);
    if (hf != fl.end() && hv != vl.end()) L["hidden_rel_l2"] = finite(relativeL2(hv->second, hf->second));
    const at::Tensor logq = pv.clamp_min(1e-12).log();                  // [heads, q, k]
    const at::Tensor qSum = pv.sum(-1);                                 // [heads, q]
    const at::Tensor hq = (pv * logq).sum(-1);                          // [heads, q]  Σ q log q
    const at::Tensor m = (pf + pv) * 0.5;                               // [heads, q, k]
    at::Tensor js = ((b.negEntropy + hq) * 0.5 - at::xlogy(m, m).sum(-1)).clamp_min(0.0);  // [heads, q]
    js.masked_fill_(qSum.le(0.0), std::log(2.0));
    const at::Tensor kl = (b.negEntropy - (pf * logq).sum(-1)).clamp_min(0.0);             // [heads, q]
    const int64_t k = b.top.size(-1);
    const at::Tensor tv = std::get<1>(pv.topk(k, -1));                                     // [heads, q, 5]
    at::Tensor top = b.top.unsqueeze(-1).eq(tv.unsqueeze(-2)).any(-1).to(at::kFloat).sum(-1) / static_cast<double>(k);
    top.masked_fill_(qSum.le(0.0), 0.0);                                                   // [heads, q]
    const at::Tensor l2f = pf.pow(2).sum({1, 2}, false, at::kDouble) * 0.5;                // [heads]
    const at::Tensor l2v = pv.pow(2).sum({1, 2}, false, at::kDouble) * 0.5;                // [heads]
    const at::Tensor jsMean = js.mean(1), jsMax = std::get<0>(js.max(1)), klMean = kl.mean(1), topMean = top.mean(1);
    nlohmann::json heads = nlohmann::json::array();
    for (int64_t h = 0; h < pf.size(0); ++h) {
      nlohmann::json H = {{"head", h},
                          {"l2_full", l2f[h].item<double>()},
                          {"l2_variant", l2v[h].item<double>()},
                          {"js_mean", jsMean[h].item<double>()},
                          {"js_max", jsMax[h].item<double>()},
                          {"kl_mean", finite(klMean[h].item<double>())},
                          {"top5_overlap", topMean[h].item<double>()}};
      auto of = fo.find(key), ov = vo.find(key);
      if (of != fo.end() && ov != vo.end()) H["output_cosine"] = cosineSimilarity(of->second[h], ov->second[h]);
      heads.push_back(H);
    }
    L["heads"] = heads;
    layers.push_back(L);
  }
  return layers;
}

}  // namespace

// ---- the engine --------------------------------------------------------------------------------------------

Comparison compareVariants(LoadedModel& model, const PreparedInput& input, const std::vector<std::string>& specs,
                           const CompareOptions& options, RunControl* control) {
  if (options.repeats < 1) throw InputError("the number of timed repeats must be at least 1");
  std::vector<std::string> order = {"full"};
  for (const auto& s : specs)
    if (s != "full" && std::find(order.begin(), order.end(), s) == order.end()) order.push_back(s);
  std::vector<std::unique_ptr<AttentionVariant>> variants;
  for (const auto& s : order) variants.push_back(makeVariant(s));  // every spec checked before anything runs

  const ModelInfo& info = model.model->info();
  const bool cpu = model.device.is_cpu();
  Comparison c;
  if (control) {
    control->total = static_cast<int>(variants.size()) * info.layers * static_cast<int>(info.stacks.size());
    control->done = 0;
  }
  for (auto& variant : variants) {
    VariantOutcome o;
    o.spec = variant->spec();
    variant->prepare(model, input);
    o.details = variant->details();
    const AttentionVariant* v = variant->isIdentity() ? nullptr : variant.get();
    {
      c10::InferenceMode guard;
      NullHook hook(control);
      ForwardOptions fo;
      fo.hook = &hook;
      fo.variant = v;
      for (int r = 0; r < options.repeats; ++r) {
        const int64_t base = cpu ? tracker().reset() : 0;
        const auto t0 = std::chrono::steady_clock::now();
        TensorMap out = model.model->forward(input.tensors, fo);
        if (!cpu)
          for (auto& kv : out) kv.second = kv.second.to(at::kCPU);  // waits for the device
        o.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (cpu) o.peakBytes = std::max(o.peakBytes, tracker().peak() - base);
      }
    }
    // One recorded run: every head's probabilities and outputs, every layer's hidden state, the analytic cost.
    {
      RunControl* inner = control;
      RunResult r;
      r.capture = std::make_shared<AttentionCapture>(CaptureSelection{}, inner);
      r.capture->setRecordOutputs(true);
      c10::InferenceMode guard;
      ForwardOptions fo;
      fo.hook = r.capture.get();
      fo.variant = v;
      const auto t0 = std::chrono::steady_clock::now();
      TensorMap out = model.model->forward(input.tensors, fo);
      for (auto& kv : out) kv.second = kv.second.to(at::TensorOptions().device(at::kCPU).dtype(at::kFloat));
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      r.outputs = std::move(out);
      r.variant = o.spec;
      o.cost = r.capture->cost();
      o.run = std::move(r);
    }
    o.run.prediction = predict(model, input, o.run.outputs);
    c.outcomes.push_back(std::move(o));
  }

  // ---- report ----
  const VariantOutcome& full = c.outcomes.front();
  const Baseline base = baselineStats(full);
  nlohmann::json rep;
  rep["format"] = "attnscope-compare";
  rep["version"] = 1;
  rep["model"] = {{"path", std::filesystem::absolute(model.dir).string()},
                  {"family", info.modelType},
                  {"architecture", info.architecture},
                  {"layers", info.layers},
                  {"heads", info.heads},
                  {"kv_heads", info.kvHeads},
                  {"hidden", info.hidden},
                  {"device", info.device}};
  rep["input"] = input.description;
  rep["input"]["tokens"] = input.labels;
  rep["input"]["length"] = input.labels.size();
  rep["repeats"] = options.repeats;
  rep["baseline"] = "full";
  nlohmann::json vs = nlohmann::json::array();
  for (const auto& o : c.outcomes) {
    const double med = median(o.seconds);
    nlohmann::json cost = {{"seconds_median", med},
                           {"seconds", o.seconds},
                           {"time_ratio", median(full.seconds) > 0 ? med / median(full.seconds) : 0.0},
                           {"attention_flops", o.cost.flops},
                           {"attention_bytes", o.cost.bytes},
                           {"flops_ratio", full.cost.flops > 0 ? o.cost.flops / full.cost.flops : 0.0},
                           {"attention_bytes_ratio", full.cost.bytes > 0 ? o.cost.bytes / full.cost.bytes : 0.0},
                           {"peak_bytes", o.peakBytes >= 0 ? nlohmann::json(o.peakBytes) : nlohmann::json(nullptr)}};
    nlohmann::json V = {{"spec", o.spec},
                        {"cost", cost},
                        {"prediction", o.run.prediction},
                        {"model_metrics", predictionMetrics(info, full.run.outputs, o.run.outputs)},
                        {"layers", layerMetrics(base, full, o)}};
    if (!o.details.is_null()) V["details"] = o.details;
    // One definition of the variant's mean JS for every reader (CLI table, GUI, scripts): every captured head of
    // every stack (encoder, decoder and cross for encoder–decoder models).
    double js = 0;
    int heads = 0;
    for (const auto& L : V["layers"])
      for (const auto& H : L["heads"]) js += H["js_mean"].get<double>(), ++heads;
    V["model_metrics"]["js_mean"] = heads ? js / heads : 0.0;
    vs.push_back(V);
  }
  rep["variants"] = vs;
  c.report = rep;
  return c;
}

}  // namespace attnscope
