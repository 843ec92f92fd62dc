#include "attnscope/Attention.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/max.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>

#include <limits>

#include "attention/HeadScores.h"
#include "attnscope/Errors.h"
#include "attnscope/QueryKeyLayer.h"
#include "attnscope/Variant.h"

namespace attnscope {

namespace {

/// The dense path: softmax(q·kᵀ·scale + masks)·v, with the variant's score/probability edits. Its scores use the
/// chunked path's per-head arithmetic (HeadScores.h) and the same fused softmax, so a variant that edits nothing
/// gives what a run without it gives (up to the order of the softmax's sums over masked keys).
at::Tensor denseAttention(const AttentionCall& call, const VariantCall& vc, const at::Tensor& q32,
                          const at::Tensor& k32, const at::Tensor& v, at::Tensor& probs, at::Tensor* sinkMass) {
  const AttentionVariant* variant = call.variant;
  const int64_t heads = q32.size(0);
  detail::ScoreMasks masks;
  masks.causal = call.causal;
  masks.window = call.slidingWindow;
  masks.past = vc.past;
  masks.keyPadding = call.keyPaddingMask;
  masks.chunk = call.chunkSize;
  masks.softcap = call.softcap;
  std::vector<at::Tensor> perHead;
  for (int64_t h = 0; h < heads; ++h) {
    at::Tensor bias;
    if (call.bias.defined()) bias = call.bias[h].to(at::kFloat);  // [q, k]
    perHead.push_back(detail::headScores(q32[h], k32[h], call.scale, bias, masks, 0, 0));  // [q, k]
  }
  at::Tensor scores = at::stack(perHead);  // [heads, q, k]
  if (variant) variant->editScores(vc, scores, q32, k32);
  if (call.sinks.defined()) {
    // The sink is one more key per head: softmax over [scores | sink], then the real keys' share.
    const at::Tensor sink = call.sinks.to(at::kFloat).view({heads, 1, 1}).expand({heads, scores.size(1), 1});  // [heads, q, 1]
    const at::Tensor all = at::softmax(at::cat({scores, sink}, -1), -1);  // [heads, q, k + 1]
    probs = all.narrow(-1, 0, scores.size(2));                             // [heads, q, k]
    if (sinkMass) *sinkMass = all.select(-1, scores.size(2));              // [heads, q]
  } else {
    probs = at::softmax(scores, -1);  // [heads, q, k]
  }
  if (variant) {
    // A row with no allowed key attends to nothing (out of place when autograd needs the softmax output).
    if (variant->mayEmptyRows()) {
      if (probs.requires_grad())
        probs = probs.masked_fill(probs.isnan(), 0.0);
      else
        probs.masked_fill_(probs.isnan(), 0.0);
    }
    variant->editProbs(vc, probs);
  }
  const at::Tensor p = probs.scalar_type() == v.scalar_type() ? probs : probs.to(v.scalar_type());  // [heads, q, k]
  std::vector<at::Tensor> outs;
  for (int64_t h = 0; h < heads; ++h) outs.push_back(at::matmul(p[h], v[h]));  // [q, head_dim]
  return at::stack(outs);                                                       // [heads, q, head_dim]
}

/// The chunked path: the same softmax(q·kᵀ·scale + masks)·v, computed one head and a few query rows at a time
/// against only the keys those rows can see (no [heads, q, k] tensor; grouped-query heads read their key head
/// without copies). The probabilities are always the fused softmax, so a capture of either kind changes nothing in
/// the forward; \p lse (a queries/keys capture) receives each row's log-sum-exp [heads, q] float64, from which the
/// tiles recompute exp(s − lse) (equal to the softmax within float32 rounding, ~1e-7), and \p probs (a
/// probabilities capture) [heads, q, k] float32.
at::Tensor chunkedAttention(const AttentionCall& call, int64_t past, const at::Tensor& q32, const at::Tensor& k32,
                            const at::Tensor& v, at::Tensor* lse, at::Tensor* probs, at::Tensor* sinkMass) {
  const int64_t heads = q32.size(0), tq = q32.size(1), kvHeads = k32.size(0), tk = k32.size(1), dv = v.size(2);
  const int64_t group = heads / kvHeads;
  detail::ScoreMasks masks;
  masks.causal = call.causal;
  masks.window = call.slidingWindow;
  masks.past = past;
  masks.keyPadding = call.keyPaddingMask;
  masks.chunk = call.chunkSize;
  masks.softcap = call.softcap;
  const int64_t chunk = detail::chunkRows(tk);
  const bool grad = at::GradMode::is_enabled() && (q32.requires_grad() || k32.requires_grad() || v.requires_grad());
  at::Tensor out;
  if (!grad) out = at::empty({heads, tq, dv}, v.options());  // [heads, q, dv]
  if (lse) *lse = at::empty({heads, tq}, q32.options().dtype(at::kDouble));  // [heads, q]
  if (probs) *probs = at::zeros({heads, tq, tk}, q32.options());              // [heads, q, k]
  const bool sinks = call.sinks.defined();
  at::Tensor sinkLogits;
  if (sinks) {
    sinkLogits = call.sinks.to(at::kCPU, at::kFloat).contiguous();              // [heads]
    if (sinkMass) *sinkMass = at::empty({heads, tq}, q32.options());            // [heads, q]
  }
  std::vector<at::Tensor> rowBlocks;  // autograd: [heads, n, dv] per block
  for (int64_t a = 0; a < tq; a += chunk) {
    const int64_t n = std::min(chunk, tq - a);
    auto [lo, hi] = detail::visibleKeys(masks, a, n, 0, tk);
    hi = std::max(hi, lo + 1);  // a row always sees one key (past >= 0)
    const int64_t w = hi - lo;
    std::vector<at::Tensor> headBlocks;
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kv = h / group;
      at::Tensor bias;
      if (call.bias.defined()) bias = call.bias[h].narrow(0, a, n).narrow(1, lo, w).to(at::kFloat);  // [n, w]
      at::Tensor s = detail::headScores(q32[h].narrow(0, a, n), k32[kv].narrow(0, lo, w), call.scale, bias, masks, a,
                                        lo);  // [n, w]
      at::Tensor p;
      if (sinks) {
        // One more key with the head's learned logit and no value: softmax over [s | sink], keep the real keys.
        const at::Tensor withSink = at::cat({s, at::full({n, 1}, sinkLogits[h].item<float>(), s.options())}, 1);  // [n, w + 1]
        const at::Tensor all = at::softmax(withSink, -1);                                           // [n, w + 1]
        if (lse) (*lse)[h].narrow(0, a, n).copy_(detail::rowLogSumExpFromSoftmax(withSink, all));  // [n]
        if (sinkMass) (*sinkMass)[h].narrow(0, a, n).copy_(all.select(1, w));                      // [n]
        p = all.narrow(1, 0, w);                                                                   // [n, w]
      } else {
        p = at::softmax(s, -1);  // [n, w]
        if (lse) (*lse)[h].narrow(0, a, n).copy_(detail::rowLogSumExpFromSoftmax(s, p));  // [n]
      }
      if (probs) (*probs)[h].narrow(0, a, n).narrow(1, lo, w).copy_(p);
      if (p.scalar_type() != v.scalar_type()) p = p.to(v.scalar_type());
      const at::Tensor o = at::matmul(p, v[kv].narrow(0, lo, w));  // [n, dv]
      if (grad) headBlocks.push_back(o);
      else out[h].narrow(0, a, n).copy_(o);
    }
    if (grad) rowBlocks.push_back(at::stack(headBlocks));  // [heads, n, dv]
  }
  if (grad) out = rowBlocks.size() == 1 ? rowBlocks[0] : at::cat(rowBlocks, 1);  // [heads, q, dv]
  return out;
}

}  // namespace

at::Tensor computeAttention(const AttentionCall& callIn, const at::Tensor& qIn, const at::Tensor& kIn,
                            const at::Tensor& vIn) {
  AttentionCall call = callIn;
  if (call.variant && call.variant->isIdentity()) call.variant = nullptr;
  at::Tensor k = kIn, v = vIn;
  if (call.cache) {
    if (call.cache->k.defined()) {
      k = at::cat({call.cache->k, kIn}, 1);  // [kv_heads, past + k, head_dim]
      v = at::cat({call.cache->v, vIn}, 1);  // [kv_heads, past + k, head_dim]
    }
    call.cache->k = k;
    call.cache->v = v;
  }
  const int64_t heads = qIn.size(0), kvHeads = k.size(0);
  const int64_t tq = qIn.size(1), tk = k.size(1);
  if (heads % kvHeads != 0)
    throw AttnScopeError("attention at " + call.site.stack + " layer " + std::to_string(call.site.layer) + ": " +
                         std::to_string(heads) + " query heads cannot share " + std::to_string(kvHeads) +
                         " key/value heads");
  const AttentionVariant* variant = call.variant;
  AttentionHook* hook = call.hook;
  const int64_t past = call.queryOffset >= 0 ? call.queryOffset : tk - tq;  // absolute position of query row 0
  const bool wantProbs = !hook || hook->wantsProbabilities(call.site);
  const bool wantQk = hook && hook->wantsQueryKey(call.site);
  if (hook) hook->onValues(call.site, v);
  at::Tensor q32 = qIn.scalar_type() == at::kFloat ? qIn : qIn.to(at::kFloat);  // [heads, q, d]
  if (!variant) {
    // Without a variant: chunked, memory linear in the length unless the hook keeps the probabilities.
    at::Tensor kv32 = k.scalar_type() == at::kFloat ? k : k.to(at::kFloat);  // [kv_heads, k, d]
    at::Tensor lse, probs, sinkMass;
    at::Tensor out = chunkedAttention(call, past, q32, kv32, v, wantQk ? &lse : nullptr,
                                      hook && wantProbs ? &probs : nullptr, hook ? &sinkMass : nullptr);  // [heads, q, d]
    if (hook) {
      if (hook->wantsCost()) hook->onCost(call.site, denseAttentionCost(heads, tq, tk, q32.size(2)));
      if (wantQk) {
        QueryKeyLayer layer;
        layer.queries = q32;   // [heads, q, d]
        layer.keys = kv32;     // [kv_heads, k, d]
        layer.lse = lse;       // [heads, q]
        layer.totalHeads = static_cast<int>(heads);
        for (int h = 0; h < heads; ++h) layer.heads.push_back(h);
        layer.scale = call.scale;
        layer.causal = call.causal;
        layer.slidingWindow = call.slidingWindow;
        layer.past = past;
        layer.softcap = call.softcap;
        layer.chunkSize = call.chunkSize;
        layer.keyPaddingMask = call.keyPaddingMask;
        if (call.bias.defined()) {
          layer.biasDiagonals = toeplitzDiagonals(call.bias);  // [heads, q + k - 1]
          if (!layer.biasDiagonals.defined())
            throw InputError("attention at " + call.site.stack + " layer " + std::to_string(call.site.layer) +
                             ": its score bias is not a function of key - query alone, so it cannot be stored as "
                             "queries and keys; store probabilities");
        }
        hook->onQueryKey(call.site, layer);
      }
      if (sinkMass.defined()) hook->onSinkMass(call.site, sinkMass, past);
      hook->onProbabilities(call.site, probs, past);
      hook->onHeadOutputs(call.site, out, past);
    }
    return out;
  }
  if (wantQk)
    throw InputError("the attention variant '" + variant->spec() +
                     "' is not exp(q·k·scale + bias - lse) of stored queries and keys; store probabilities");
  if (kvHeads != heads) {
    k = k.repeat_interleave(heads / kvHeads, 0);  // [heads, k, head_dim]
    v = v.repeat_interleave(heads / kvHeads, 0);  // [heads, k, head_dim]
  }
  at::Tensor k32 = k.scalar_type() == at::kFloat ? k : k.to(at::kFloat);        // [heads, k, d]
  VariantCall vc;
  vc.site = call.site;
  vc.scale = call.scale;
  vc.causal = call.causal;
  vc.slidingWindow = call.slidingWindow;
  vc.past = past;
  vc.keyPaddingMask = call.keyPaddingMask;
  if (variant) variant->editQK(vc, q32, k32);
  if (hook && hook->wantsCost())
    hook->onCost(call.site, variant ? variant->cost(vc, q32, k32) : denseAttentionCost(heads, tq, tk, q32.size(2)));

  at::Tensor probs, out, sinkMass;
  // A variant with its own algorithm (linear, performer) replaces softmax attention: like the additive bias, the
  // soft cap, chunks and sinks are not part of it.
  if (variant) out = variant->compute(vc, q32, k32, v, wantProbs ? &probs : nullptr);  // [heads, q, d]
  if (!out.defined()) out = denseAttention(call, vc, q32, k32, v, probs, &sinkMass);  // [heads, q, d]
  if (variant) out = variant->editOutput(vc, out, probs);                              // [heads, q, d]
  if (hook) {
    if (!wantProbs) probs = at::Tensor();
    if (sinkMass.defined()) hook->onSinkMass(call.site, sinkMass, vc.past);
    hook->onProbabilities(call.site, probs, vc.past);
    hook->onHeadOutputs(call.site, out, vc.past);
  }
  return out;
}

}  // namespace attnscope
