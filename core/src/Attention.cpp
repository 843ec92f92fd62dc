#include "attnscope/Attention.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>

#include <limits>

#include "attnscope/Errors.h"
#include "attnscope/Variant.h"

namespace attnscope {

namespace {

/// The dense path: softmax(q·kᵀ·scale + masks)·v, with the variant's score/probability edits.
at::Tensor denseAttention(const AttentionCall& call, const VariantCall& vc, const at::Tensor& q32,
                          const at::Tensor& k32, const at::Tensor& v, at::Tensor& probs) {
  const AttentionVariant* variant = call.variant;
  const int64_t tq = q32.size(1), tk = k32.size(1);
  // The scale is applied to q ([heads, q, d], cheaper than a pass over [heads, q, k]). Note: baddbmm with beta=0
  // over an uninitialised buffer is not safe in LibTorch 1.13 (its small-matrix CPU kernel multiplies NaN by 0).
  at::Tensor scores = call.scale == 1.0 ? at::bmm(q32, k32.transpose(1, 2))
                                        : at::bmm(q32.mul(call.scale), k32.transpose(1, 2));  // [heads, q, k]
  if (call.bias.defined()) scores.add_(call.bias.to(scores.scalar_type()));                   // [heads, q, k]
  if (call.causal && tk > 1) {
    // Query i (absolute past + i) must not see key j > past + i.
    at::Tensor future = at::ones({tq, tk}, scores.options().dtype(at::kBool)).triu_(vc.past + 1);  // [q, k]
    scores.masked_fill_(future, -std::numeric_limits<float>::infinity());
  }
  if (call.slidingWindow > 0 && vc.past - call.slidingWindow > -tq) {
    // Query i (absolute past + i) must not see key j <= past + i - window.
    at::Tensor old = at::ones({tq, tk}, scores.options().dtype(at::kBool)).tril_(vc.past - call.slidingWindow);  // [q, k]
    scores.masked_fill_(old, -std::numeric_limits<float>::infinity());
  }
  if (call.keyPaddingMask.defined())
    scores.masked_fill_(call.keyPaddingMask.view({1, 1, tk}), -std::numeric_limits<float>::infinity());
  if (variant) variant->editScores(vc, scores, q32, k32);
  probs = at::softmax(scores, -1);  // [heads, q, k]
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
  return at::matmul(p, v);  // [heads, q, head_dim]
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
  if (kvHeads != heads) {
    k = k.repeat_interleave(heads / kvHeads, 0);  // [heads, k, head_dim]
    v = v.repeat_interleave(heads / kvHeads, 0);  // [heads, k, head_dim]
  }
  at::Tensor q32 = qIn.scalar_type() == at::kFloat ? qIn : qIn.to(at::kFloat);  // [heads, q, d]
  at::Tensor k32 = k.scalar_type() == at::kFloat ? k : k.to(at::kFloat);        // [heads, k, d]
  VariantCall vc;
  vc.site = call.site;
  vc.scale = call.scale;
  vc.causal = call.causal;
  vc.slidingWindow = call.slidingWindow;
  vc.past = call.queryOffset >= 0 ? call.queryOffset : tk - tq;  // absolute position of query row 0
  vc.keyPaddingMask = call.keyPaddingMask;
  const AttentionVariant* variant = call.variant;
  AttentionHook* hook = call.hook;
  if (variant) variant->editQK(vc, q32, k32);
  if (hook && hook->wantsCost())
    hook->onCost(call.site, variant ? variant->cost(vc, q32, k32) : denseAttentionCost(heads, tq, tk, q32.size(2)));

  at::Tensor probs, out;
  const bool wantProbs = !hook || hook->wantsProbabilities(call.site);
  if (variant) out = variant->compute(vc, q32, k32, v, wantProbs ? &probs : nullptr);  // [heads, q, d]
  if (!out.defined()) out = denseAttention(call, vc, q32, k32, v, probs);              // [heads, q, d]
  if (variant) out = variant->editOutput(vc, out, probs);                              // [heads, q, d]
  if (hook) {
    if (!wantProbs) probs = at::Tensor();
    hook->onProbabilities(call.site, probs, vc.past);
    hook->onHeadOutputs(call.site, out, vc.past);
  }
  return out;
}

}  // namespace attnscope
