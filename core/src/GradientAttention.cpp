#include "attnscope/GradientAttention.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros_like.h>

#include <algorithm>
#include <map>

#include "attnscope/Attention.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/LogitLens.h"
#include "attnscope/Tokenizer.h"
#include "attnscope/Variant.h"

namespace attnscope {

namespace {
/// The dense attention path with a zero, gradient-requiring tensor added to one stack's probabilities after the
/// softmax (and after the wrapped variant's edits): its gradient is the target's gradient with respect to those
/// probabilities, every path through later layers included. Everything else is the wrapped variant's.
class ProbabilityProbe : public AttentionVariant {
 public:
  ProbabilityProbe(std::string stack, const AttentionVariant* inner) : m_stack(std::move(stack)), m_inner(inner) {
    m_spec = inner ? inner->spec() : "full";
  }
  void editQK(const VariantCall& call, at::Tensor& q, at::Tensor& k) const override {
    if (m_inner) m_inner->editQK(call, q, k);
  }
  at::Tensor compute(const VariantCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     at::Tensor* probs) const override {
    // A mask variant's own algorithm is a faster route to its dense path's numbers: take the dense path.
    if (!m_inner || dynamic_cast<const MaskVariant*>(m_inner)) return {};
    at::Tensor out = m_inner->compute(call, q, k, v, probs);  // [heads, q, d] or undefined
    if (out.defined())
      throw InputError("gradient × attention differentiates the attention probabilities; the variant '" +
                       m_inner->spec() + "' computes attention with its own algorithm, which has none");
    return out;
  }
  void editScores(const VariantCall& call, at::Tensor& scores, const at::Tensor& q,
                  const at::Tensor& k) const override {
    if (m_inner) m_inner->editScores(call, scores, q, k);
  }
  bool mayEmptyRows() const override { return m_inner && m_inner->mayEmptyRows(); }
  void editProbs(const VariantCall& call, at::Tensor& probs) const override {
    if (m_inner) m_inner->editProbs(call, probs);
    if (call.site.stack != m_stack) return;
    at::Tensor probe = at::zeros_like(probs).requires_grad_(true);  // [heads, q, k]
    probs = probs + probe;                                          // [heads, q, k]
    m_probes[call.site.layer] = probe;
    m_probs[call.site.layer] = probs.detach();
  }
  at::Tensor editOutput(const VariantCall& call, const at::Tensor& out, at::Tensor& probs) const override {
    if (!m_inner) return out;
    // Autograd keeps the probabilities for the backward pass: a variant editing the shown ones in place (prune)
    // edits a copy.
    at::Tensor shown = probs.defined() ? probs.detach().clone() : probs;  // [heads, q, k]
    return m_inner->editOutput(call, out, shown);
  }
  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    return m_inner ? m_inner->cost(call, q, k) : AttentionVariant::cost(call, q, k);
  }
  std::map<int, at::Tensor>& probes() const { return m_probes; }
  std::map<int, at::Tensor>& probs() const { return m_probs; }

 private:
  std::string m_stack;
  const AttentionVariant* m_inner;
  mutable std::map<int, at::Tensor> m_probes;  ///< [heads, q, k] by layer, the leaves autograd fills
  mutable std::map<int, at::Tensor> m_probs;   ///< [heads, q, k] by layer, the probabilities used
};

}  // namespace

GradientAttention gradientAttention(LoadedModel& m, const PreparedInput& input, int64_t position,
                                    const std::string& target, const AttentionVariant* variant) {
  const ModelInfo& info = m.model->info();
  if (std::find(info.stacks.begin(), info.stacks.end(), "self") == info.stacks.end())
    throw InputError("gradient × attention follows one self-attention stack; this " + info.modelType +
                     " model has none (encoder–decoder models are not covered)");
  if (info.head == "none")
    throw InputError("gradient × attention differentiates an output (a token or class logit); this " +
                     info.modelType + " model has no output head");
  const int64_t T = static_cast<int64_t>(input.labels.size());
  if (T > 1024)
    throw InputError("gradient × attention keeps the whole forward for autograd; " + std::to_string(T) +
                     " positions is more than the 1,024 it takes");
  if (position == -1 && !info.causal) position = 0;  // an encoder's summary position ([CLS])
  if (position < 0) position += T;
  if (position < 0 || position >= T)
    throw InputError("position " + std::to_string(position) + " is outside the input (0.." +
                     std::to_string(T - 1) + ")");
  const bool classifier = info.head == "classifier";
  const int64_t fixed = classifier || target.empty() ? -1 : lensTargetId(m, target);

  ProbabilityProbe probe("self", variant && !variant->isIdentity() ? variant : nullptr);
  at::AutoGradMode grad(true);
  ForwardOptions options;
  options.variant = &probe;
  const TensorMap out = m.model->forward(input.tensors, options);
  if (!out.count("logits")) throw InputError("this " + info.modelType + " model returned no logits");
  const at::Tensor all = out.at("logits");  // [T, V] or [labels]
  at::Tensor logits = classifier ? all.flatten() : all[position];  // [V] or [labels]
  if (!classifier && all.size(0) != T)
    throw AttnScopeError("internal: " + std::to_string(all.size(0)) + " logit rows for " + std::to_string(T) +
                         " positions");

  GradientAttention g;
  g.model = info.modelType;
  g.position = position;
  const int64_t predicted = logits.detach().argmax().item<int64_t>();
  g.targetId = classifier ? classTargetId(info, logits.size(0), target) : fixed;
  if (g.targetId < 0) g.targetId = predicted;
  g.predicted = g.targetId == predicted;
  if (classifier)
    g.targetLabel = g.targetId < static_cast<int64_t>(info.labels.size()) ? info.labels[g.targetId]
                                                                           : std::to_string(g.targetId);
  else
    g.targetLabel = m.tokenizer ? m.tokenizer->displayLabel(g.targetId) : std::to_string(g.targetId);
  const at::Tensor chosen = logits[g.targetId];  // []
  g.logit = chosen.item<double>();
  chosen.backward();

  at::Tensor relevance;  // [T, T]
  for (const auto& [layer, probs] : probe.probs()) {
    const at::Tensor gradient = probe.probes().at(layer).grad();  // [heads, T, T]
    if (probs.size(-1) != T || probs.size(-2) != T)
      throw AttnScopeError("internal: layer " + std::to_string(layer) + " attends over " +
                           std::to_string(probs.size(-1)) + " positions, the input has " + std::to_string(T));
    if (!relevance.defined()) relevance = at::eye(T, probs.options().dtype(at::kDouble));  // [T, T]
    if (!gradient.defined()) {  // the target does not depend on this layer (nothing after it reads the position)
      ++g.layers;
      continue;
    }
    const at::Tensor cam = (gradient.to(at::kDouble) * probs.to(at::kDouble)).clamp_min(0).mean(0);  // [T, T]
    relevance = relevance + at::matmul(cam, relevance);                                               // [T, T]
    ++g.layers;
  }
  if (!relevance.defined()) throw AttnScopeError("internal: the self-attention stack was never called");
  const at::Tensor row = relevance[position].to(at::kCPU).contiguous();  // [T]
  g.scores.assign(row.data_ptr<double>(), row.data_ptr<double>() + T);
  return g;
}

}  // namespace attnscope
