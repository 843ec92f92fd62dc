// What the views draw from a capture without the model: capture files opened as a CaptureResult, aggregates over
// heads (whole matrices and single query rows of long inputs), sampled thumbnails and per-head metrics.
#include "attnscope/EngineSession.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/xlogy.h>
#include <ATen/ops/zeros.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <unistd.h>

#include "attnscope/Analysis.h"
#include "attnscope/AudioFeatures.h"
#include "attnscope/CaptureFile.h"
#include "attnscope/Compare.h"
#include "attnscope/DeletionCurve.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/LogitLens.h"
#include "attnscope/Media.h"
#include "attnscope/MemoryBudget.h"
#include "attnscope/OverlayRenderer.h"
#include "attnscope/PruneSweep.h"
#include "attnscope/SafetensorsFile.h"
#include "attnscope/Tokenizer.h"
#include "attnscope/Variant.h"
#include "OnDemandSource.h"

namespace attnscope {

CaptureResult loadCaptureFile(const std::string& path, std::string* name) {
  const auto capture = CaptureFile::open(path);  // either kind; its tensors checked against their metadata
  if (capture->kind() == CaptureKind::QueryKey) {
    const int64_t need = capture->probabilityBytes(), room = availableMemory() / 2;
    if (need > room)
      throw OutOfMemoryError("'" + path + "' stores queries and keys; the probabilities of all its heads would need " +
                             formatGigabytes(need) + " (more than half of the " + formatGigabytes(room * 2) +
                             " this machine can give now): draw one head or a block of it instead");
  }
  const nlohmann::json& meta = capture->metadata();
  CaptureResult out;
  std::vector<std::string> tokens, stacks = {"self"};
  std::vector<int> heads;
  nlohmann::json labels = nlohmann::json::object();
  try {  // the metadata's types are checked here: a wrong one is an InputError naming the key, never a crash
    if (!meta.is_object()) throw InputError("'" + path + "': the metadata is not a JSON object");
    out.variant = meta.value("variant", "");
    tokens = meta.value("tokens", std::vector<std::string>{});
    stacks = meta.value("stacks", stacks);
    if (meta.contains("heads"))
      for (const auto& h : meta["heads"]) {
        if (!h.is_number_integer() || h.get<int64_t>() < 0 || h.get<int64_t>() > (1 << 16))
          throw InputError("'" + path + "': metadata heads: expected head indices, got " + h.dump().substr(0, 40));
        heads.push_back(static_cast<int>(h.get<int64_t>()));
      }
    if (meta.contains("labels")) labels = meta["labels"];
    if (!labels.is_object()) throw InputError("'" + path + "': metadata labels: expected an object");
  } catch (const nlohmann::json::exception& e) {
    throw InputError("'" + path + "': unreadable metadata: " + e.what());
  }
  if (name) *name = out.variant.empty() ? "full" : out.variant;
  for (const auto& stack : stacks) {
    out.stacks.push_back(stack);
    std::vector<std::string> q = tokens, k = tokens;
    if (labels.contains(stack)) {
      try {
        q = labels[stack].value("query", tokens);
        k = labels[stack].value("key", tokens);
      } catch (const nlohmann::json::exception& e) {
        throw InputError("'" + path + "': metadata labels." + stack + ": " + e.what());
      }
    }
    for (int l : capture->layers(stack)) {
      const std::string tname = captureTensorName(stack, l);
      const at::Tensor t = guardAllocations([&] { return capture->probabilities(stack, l).contiguous(); },
                                            "reading '" + path + "'");  // [heads, q, k]
      AttentionMatrix a;
      a.stack = stack;
      a.layer = l;
      a.heads = static_cast<int>(t.size(0));
      a.q = static_cast<int>(t.size(1));
      a.k = static_cast<int>(t.size(2));
      // Labels name every row and column the views draw: a count that does not match is refused here.
      if (q.size() != static_cast<size_t>(a.q) || k.size() != static_cast<size_t>(a.k))
        throw InputError("'" + path + "': '" + tname + "' is [" + std::to_string(a.heads) + ", " + std::to_string(a.q) +
                         ", " + std::to_string(a.k) + "] but the metadata labels " + std::to_string(q.size()) +
                         " queries and " + std::to_string(k.size()) + " keys");
      a.headIndex = capture->heads();
      a.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      out.layers.push_back(std::move(a));
    }
    out.stackQueryLabels.push_back(q);
    out.stackKeyLabels.push_back(k);
  }
  if (out.layers.empty()) throw InputError("'" + path + "' holds no attention tensors");
  out.queryLabels = out.stackQueryLabels.front();
  out.keyLabels = out.stackKeyLabels.front();
  return out;
}

namespace {
/// A capture matrix as a tensor view (no copy).
at::Tensor viewOf(const AttentionMatrix& a) {
  return at::from_blob(const_cast<float*>(a.data.data()), {a.heads, a.q, a.k}, at::kFloat);  // [heads, q, k]
}
std::vector<float> toVector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
}  // namespace

std::vector<float> aggregateAttention(const CaptureResult& capture, const std::string& stack, int layer,
                                      const std::string& kind, int* rows, int* cols) {
  if (capture.onDemand())
    throw InputError("this long input's attention is kept as queries and keys, computed head by head on demand; "
                     "aggregates and head metrics need every head's probabilities (kept for shorter inputs)");
  at::Tensor out;
  if (kind == "rollout") {
    std::vector<at::Tensor> layers;
    for (int l = 0; l <= layer; ++l) {
      const AttentionMatrix* a = capture.find(stack, l);
      if (!a) throw InputError("rollout needs every layer up to " + std::to_string(layer) + " captured");
      if (a->q != a->k) throw InputError("rollout needs square self-attention (the '" + stack + "' stack is not)");
      layers.push_back(viewOf(*a));
    }
    out = attentionRollout(layers);  // [T, T]
  } else if (kind == "flow") {
    std::vector<at::Tensor> layers;
    for (int l = 0; l <= layer; ++l) {
      const AttentionMatrix* a = capture.find(stack, l);
      if (!a) throw InputError("attention flow needs every layer up to " + std::to_string(layer) + " captured");
      if (a->q != a->k) throw InputError("attention flow needs square self-attention (the '" + stack + "' stack is not)");
      layers.push_back(viewOf(*a));
    }
    const int64_t T = layers.front().size(-1);
    // One maximum flow per (query, input) pair: the whole matrix only for short inputs.
    if (T > kFlowMatrixPositions)
      throw InputError("the attention-flow matrix solves T² maximum flows; " + std::to_string(T) +
                       " positions is more than the " + std::to_string(kFlowMatrixPositions) +
                       " it draws here (attnscope-cli attribute --method flow --position P gives one row)");
    std::vector<at::Tensor> rowsOut;
    for (int64_t q = 0; q < T; ++q) rowsOut.push_back(attentionFlow(layers, q));  // [T]
    out = at::stack(rowsOut);                                                   // [T, T]
  } else {
    const AttentionMatrix* a = capture.find(stack, layer);
    if (!a) throw InputError("layer " + std::to_string(layer) + " of '" + stack + "' was not captured");
    if (kind == "mean") out = viewOf(*a).mean(0);                      // [q, k]
    else if (kind == "max") out = std::get<0>(viewOf(*a).max(0));    // [q, k]
    else throw InputError("aggregate must be mean, max, rollout or flow (got '" + kind + "')");
  }
  *rows = static_cast<int>(out.size(0));
  *cols = static_cast<int>(out.size(1));
  return toVector(out);
}

namespace {
/// The cells of head slot \p h of \p a that query rows [r0, r1) can see: [rows, w] float32 for keys [*lo, *lo + w)
/// (every other key of those rows is 0); undefined when they see none. Dense layers give all keys.
at::Tensor visibleRows(const CaptureResult& capture, const AttentionMatrix& a, int h, int64_t r0, int64_t r1,
                       int64_t* lo) {
  if (!a.onDemand) {
    *lo = 0;
    return viewOf(a)[h].narrow(0, r0, r1 - r0);  // [rows, k]
  }
  const auto* qk = dynamic_cast<const OnDemandSource*>(capture.source.get());
  if (!qk) throw InputError("layer " + std::to_string(a.layer) + " of '" + a.stack + "' has no cells to compute");
  return qk->find(a.stack, a.layer).visibleTile(h, r0, r1 - r0, 0, a.k, lo);  // [rows, w]
}
}  // namespace

std::vector<float> aggregateRow(const CaptureResult& capture, const std::string& stack, int layer,
                                const std::string& kind, int query) {
  const AttentionMatrix* top = capture.find(stack, layer);
  if (!top) throw InputError("layer " + std::to_string(layer) + " of '" + stack + "' was not captured");
  if (query < 0 || query >= top->q)
    throw InputError("query row " + std::to_string(query) + " is outside 0.." + std::to_string(top->q - 1));
  const auto dbl = at::TensorOptions().dtype(at::kDouble);
  if (kind == "mean" || kind == "max") {
    at::Tensor out = at::zeros({top->k}, dbl);  // [k]
    if (kind == "max") out.fill_(-1.0);
    for (int h = 0; h < top->heads; ++h) {
      int64_t lo = 0;
      const at::Tensor r = visibleRows(capture, *top, h, query, query + 1, &lo);  // [1, w]
      at::Tensor full = at::zeros({top->k}, dbl);                                  // [k]
      if (r.defined()) full.narrow(0, lo, r.size(1)).copy_(r[0]);
      out = kind == "mean" ? out + full : at::maximum(out, full);  // [k]
    }
    if (kind == "mean") out = out / top->heads;
    return toVector(out);
  }
  if (kind == "flow")
    throw InputError("attention flow solves maximum flows over every layer's whole matrix; this long input's "
                     "attention is kept as queries and keys (use mean, max or rollout for one query row)");
  if (kind != "rollout") throw InputError("aggregate must be mean, max or rollout (got '" + kind + "')");
  // Row `query` of R = m_L ⋯ m_0 with m_l = norm(0.5 · mean_heads(A_l) + 0.5 · I): a row vector times one layer's
  // matrix at a time, the matrix visited in blocks of query rows that the vector reaches (never [T, T]).
  const int64_t T = top->k;
  at::Tensor v = at::zeros({T}, dbl);  // [T]
  v[query] = 1.0;
  for (int l = layer; l >= 0; --l) {
    const AttentionMatrix* a = capture.find(stack, l);
    if (!a) throw InputError("rollout needs every layer up to " + std::to_string(layer) + " captured");
    if (a->q != a->k || a->k != T) throw InputError("rollout needs square self-attention (the '" + stack + "' stack is not)");
    const at::Tensor nz = v.nonzero();  // [n, 1]
    at::Tensor next = at::zeros({T}, dbl);  // [T]
    if (nz.numel() > 0) {
      const int64_t first = nz[0][0].item<int64_t>(), last = nz[nz.size(0) - 1][0].item<int64_t>();
      const int64_t block = std::max<int64_t>(16, (int64_t(1) << 21) / T);
      for (int64_t r0 = first; r0 <= last; r0 += block) {
        const int64_t r1 = std::min(last + 1, r0 + block);
        at::Tensor m = at::zeros({r1 - r0, T}, dbl);  // [rows, T]
        for (int h = 0; h < a->heads; ++h) {
          int64_t lo = 0;
          const at::Tensor t = visibleRows(capture, *a, h, r0, r1, &lo);  // [rows, w]
          if (t.defined()) m.narrow(1, lo, t.size(1)).add_(t.to(at::kDouble));
        }
        m = m / a->heads * 0.5;                                                // [rows, T]
        const at::Tensor coeff = v.narrow(0, r0, r1 - r0) / (m.sum(1) + 0.5);  // [rows]
        next += at::matmul(coeff.unsqueeze(0), m)[0];                          // [T]
        next.narrow(0, r0, r1 - r0).add_(coeff * 0.5);
      }
    }
    v = next;
  }
  return toVector(v);
}

CaptureResult sampledThumbnails(const CaptureResult& capture, const std::string& stack, int rows, int cols) {
  if (!capture.source) throw InputError("thumbnails from sampled rows are for long inputs' on-demand captures");
  const auto si = std::find(capture.stacks.begin(), capture.stacks.end(), stack);
  if (si == capture.stacks.end()) throw InputError("the capture has no stack '" + stack + "'");
  const auto& qLabels = capture.stackQueryLabels[static_cast<size_t>(si - capture.stacks.begin())];
  const auto& kLabels = capture.stackKeyLabels[static_cast<size_t>(si - capture.stacks.begin())];
  CaptureResult out;
  out.stacks = {stack};
  out.variant = capture.variant;
  std::vector<std::string> rowLabels, colLabels;
  bool labelled = false;
  for (const auto& a : capture.layers) {
    if (a.stack != stack || !a.onDemand) continue;
    const int nr = std::min(rows, a.q), bx = (a.k + cols - 1) / cols;
    AttentionMatrix t;
    t.stack = stack;
    t.layer = a.layer;
    t.headIndex = a.headIndex;
    t.heads = a.heads;
    t.q = nr;
    for (int h = 0; h < a.heads; ++h)
      for (int i = 0; i < nr; ++i) {
        const int row = nr == 1 ? 0 : static_cast<int>(static_cast<int64_t>(i) * (a.q - 1) / (nr - 1));
        int r = 0, c = 0;
        const auto v = capture.source->blockMaxima(stack, a.layer, h, row, row + 1, 0, a.k, 1, bx, &r, &c);
        t.k = c;
        t.data.insert(t.data.end(), v.begin(), v.end());
        if (!labelled && h == 0) rowLabels.push_back(row < static_cast<int>(qLabels.size()) ? qLabels[row] : std::to_string(row));
      }
    if (!labelled) {
      for (int c = 0; c < t.k; ++c)
        colLabels.push_back(c * bx < static_cast<int>(kLabels.size()) ? kLabels[static_cast<size_t>(c * bx)] : std::to_string(c * bx));
      labelled = true;
    }
    out.layers.push_back(std::move(t));
  }
  if (out.layers.empty()) throw InputError("stack '" + stack + "' holds no on-demand layers");
  out.stackQueryLabels = {rowLabels};
  out.stackKeyLabels = {colLabels};
  out.queryLabels = rowLabels;
  out.keyLabels = colLabels;
  return out;
}

std::vector<float> captureHeadMetric(const CaptureResult& capture, const std::string& stack, const std::string& metric,
                                     int* layers, int* heads) {
  if (capture.onDemand())
    throw InputError("this long input's attention is kept as queries and keys, computed head by head on demand; "
                     "aggregates and head metrics need every head's probabilities (kept for shorter inputs)");
  if (metric != "entropy" && metric != "distance" && metric != "sink")
    throw InputError("head metric must be entropy, distance, sink or importance (got '" + metric + "')");
  int L = 0, H = 0;
  for (const auto& a : capture.layers) {
    if (a.stack != stack) continue;
    L = std::max(L, a.layer + 1);
    for (int h : a.headIndex) H = std::max(H, h + 1);
  }
  *layers = L;
  *heads = H;
  std::vector<float> out(static_cast<size_t>(L) * H, 0.0f);
  for (const auto& a : capture.layers) {
    if (a.stack != stack) continue;
    const at::Tensor probs = viewOf(a);  // [heads, q, k]
    at::Tensor values;                   // [heads]
    if (metric == "entropy") {
      values = (-at::xlogy(probs, probs).sum(-1)).mean(1);  // [heads]
    } else if (metric == "distance") {
      const at::Tensor qi = at::arange(a.q, at::kFloat).unsqueeze(1);  // [q, 1]
      const at::Tensor kj = at::arange(a.k, at::kFloat).unsqueeze(0);  // [1, k]
      values = (probs * (qi - kj).abs()).sum(-1).mean(1);              // [heads]
    } else {
      values = probs.select(2, 0).mean(1);  // [heads]
    }
    const std::vector<float> v = toVector(values);
    for (int h = 0; h < a.heads; ++h) out[static_cast<size_t>(a.layer) * H + a.headIndex[h]] = v[h];
  }
  return out;
}

}  // namespace attnscope
