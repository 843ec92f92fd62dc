#include "attnscope/GradientAttention.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
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
/// The dense attention path with a zero, gradient-requiring tensor added to the probabilities of the followed stacks
/// after the softmax (and after the wrapped variant's edits): its gradient is the target's gradient with respect to those
/// probabilities, every path through later layers included. Everything else is the wrapped variant's.
class ProbabilityProbe : public AttentionVariant {
 public:
  using Key = std::pair<std::string, int>;  ///< (stack, layer)
  ProbabilityProbe(std::vector<std::string> stacks, const AttentionVariant* inner)
      : m_stacks(std::move(stacks)), m_inner(inner) {
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
    if (std::find(m_stacks.begin(), m_stacks.end(), call.site.stack) == m_stacks.end()) return;
    at::Tensor probe = at::zeros_like(probs).requires_grad_(true);  // [heads, q, k]
    probs = probs + probe;                                          // [heads, q, k]
    const Key key{call.site.stack, call.site.layer};
    m_probes[key] = probe;
    m_probs[key] = probs.detach();
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
  std::map<Key, at::Tensor>& probes() const { return m_probes; }
  std::map<Key, at::Tensor>& probs() const { return m_probs; }

  /// Ā of one layer: the head mean of (∇A ⊙ A)⁺ in float64 on the CPU, [q, k]; undefined when the target does not depend on
  /// the layer (nothing after it reads the scored position).
  at::Tensor cam(const Key& key) const {
    const at::Tensor gradient = m_probes.at(key).grad();  // [heads, q, k]
    if (!gradient.defined()) return {};
    return (gradient.to(at::kDouble) * m_probs.at(key).to(at::kDouble)).clamp_min(0).mean(0).to(at::kCPU);  // [q, k]
  }

 private:
  std::vector<std::string> m_stacks;
  const AttentionVariant* m_inner;
  mutable std::map<Key, at::Tensor> m_probes;  ///< [heads, q, k] by (stack, layer), the leaves autograd fills
  mutable std::map<Key, at::Tensor> m_probs;   ///< [heads, q, k] by (stack, layer), the probabilities used
};

/// R̄ = I + (R − I) with each row of R − I normalised to sum 1; a row with nothing in it stays 0.
at::Tensor normalisedResidual(const at::Tensor& r) {
  const at::Tensor eye = at::eye(r.size(0), r.options());                // [n, n]
  const at::Tensor off = r - eye;                                         // [n, n]
  const at::Tensor sums = off.sum(-1, true);                              // [n, 1]
  return at::where(sums > 0, off / at::where(sums > 0, sums, at::ones_like(sums)), at::zeros_like(off)) + eye;  // [n, n]
}

/// R += Ā·R for every layer of one stack, in order; starts from the identity over \p n positions.
at::Tensor selfRule(const ProbabilityProbe& probe, const std::string& stack, int64_t n, int& layers) {
  at::Tensor relevance = at::eye(n, at::TensorOptions().dtype(at::kDouble));  // [n, n]
  for (const auto& [key, probs] : probe.probs()) {
    if (key.first != stack) continue;
    if (probs.size(-1) != n || probs.size(-2) != n)
      throw AttnScopeError("internal: " + stack + " layer " + std::to_string(key.second) + " attends over " +
                           std::to_string(probs.size(-1)) + " positions, the sequence has " + std::to_string(n));
    ++layers;
    const at::Tensor a = probe.cam(key);  // [n, n]
    if (a.defined()) relevance = relevance + at::matmul(a, relevance);  // [n, n]
  }
  return relevance;
}

}  // namespace

GradientAttention gradientAttention(LoadedModel& m, const PreparedInput& input, int64_t position,
                                    const std::string& target, const AttentionVariant* variant) {
  const ModelInfo& info = m.model->info();
  const auto has = [&](const char* stack) {
    return std::find(info.stacks.begin(), info.stacks.end(), stack) != info.stacks.end();
  };
  const bool seq2seq = info.encoderDecoder && has("encoder") && has("decoder") && has("cross");
  if (!seq2seq && !has("self"))
    throw InputError("gradient × attention follows a self-attention stack, or an encoder–decoder's encoder, decoder "
                     "and cross-attention; this " + info.modelType + " model has neither");
  if (info.head == "none")
    throw InputError("gradient × attention differentiates an output (a token or class logit); this " +
                     info.modelType + " model has no output head");
  const int64_t T = static_cast<int64_t>(input.labels.size());  // the decoder's positions for encoder–decoder models
  const auto encoderLabels = input.sequenceLabels.find("encoder");
  const int64_t S = seq2seq && encoderLabels != input.sequenceLabels.end()
                        ? static_cast<int64_t>(encoderLabels->second.size()) : 0;
  // Whisper's 30 s window alone is 1,500 encoder positions.
  const int64_t most = seq2seq ? 2048 : 1024;
  if (T + S > most)
    throw InputError("gradient × attention keeps the whole forward for autograd; " + std::to_string(T + S) +
                     " positions is more than the " + (seq2seq ? "2,048" : "1,024") + " it takes");
  if (position == -1 && !info.causal && !seq2seq) position = 0;  // an encoder's summary position ([CLS])
  if (position < 0) position += T;
  if (position < 0 || position >= T)
    throw InputError("position " + std::to_string(position) + " is outside the " +
                     (seq2seq ? "decoder's input (0.." : "input (0..") + std::to_string(T - 1) + ")");
  const bool classifier = info.head == "classifier" && !seq2seq;
  const int64_t fixed = classifier || target.empty() ? -1 : lensTargetId(m, target);

  ProbabilityProbe probe(seq2seq ? std::vector<std::string>{"encoder", "decoder", "cross"}
                                 : std::vector<std::string>{"self"},
                         variant && !variant->isIdentity() ? variant : nullptr);
  at::AutoGradMode grad(true);
  ForwardOptions options;
  options.variant = &probe;
  const TensorMap out = m.model->forward(input.tensors, options);
  if (!out.count("logits")) throw InputError("this " + info.modelType + " model returned no logits");
  const at::Tensor all = out.at("logits");  // [T, V] or [labels]
  if (!classifier && all.size(0) != T)
    throw AttnScopeError("internal: " + std::to_string(all.size(0)) + " logit rows for " + std::to_string(T) +
                         " positions");
  at::Tensor logits = classifier ? all.flatten() : all[position];  // [V] or [labels]

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

  const auto toVector = [](const at::Tensor& row) {  // [n] double
    const at::Tensor c = row.to(at::kCPU).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  if (!seq2seq) {
    if (probe.probs().empty()) throw AttnScopeError("internal: the self-attention stack was never called");
    const at::Tensor relevance = selfRule(probe, "self", T, g.layers);  // [T, T]
    g.scores = toVector(relevance[position]);
    return g;
  }
  // The encoder first (its relevance is complete before the decoder reads it), then the decoder layer by layer.
  int64_t sources = S;
  for (const auto& [key, probs] : probe.probs())
    if (key.first == "encoder") sources = probs.size(-1);
  if (sources == 0) throw AttnScopeError("internal: the encoder stack was never called");
  const at::Tensor rss = selfRule(probe, "encoder", sources, g.layers);             // [S, S]
  const at::Tensor rssBar = normalisedResidual(rss);                                // [S, S]
  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble);
  at::Tensor rtt = at::eye(T, f64);                                                 // [T, T]
  at::Tensor rts = at::zeros({T, sources}, f64);                                    // [T, S]
  for (int layer = 0;; ++layer) {
    const ProbabilityProbe::Key self{"decoder", layer}, cross{"cross", layer};
    if (!probe.probs().count(self)) break;
    const at::Tensor a = probe.cam(self);  // [T, T]
    if (a.defined()) {
      rtt = rtt + at::matmul(a, rtt);  // [T, T]
      rts = rts + at::matmul(a, rts);  // [T, S]
    }
    if (probe.probs().count(cross)) {
      const at::Tensor c = probe.cam(cross);  // [T, S]
      if (c.defined())
        rts = rts + at::matmul(normalisedResidual(rtt).t(), at::matmul(c, rssBar));  // [T, S]
    }
    ++g.layers;
  }
  g.stack = "encoder";
  g.scores = toVector(rts[position]);
  g.decoderScores = toVector(rtt[position]);
  return g;
}

}  // namespace attnscope
