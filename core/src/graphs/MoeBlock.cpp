#include "graphs/MoeBlock.h"

#include <ATen/ops/clamp.h>
#include <ATen/ops/clamp_max.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/zeros_like.h>

#include "attnscope/Errors.h"
#include "engine/FamilyCommon.h"

namespace attnscope {

namespace {

struct ExpertMlp {
  Linear gate, up, down;
  at::Tensor operator()(const std::string& activation, const at::Tensor& x) const {
    return down(applyActivation(activation, gate(x)) * up(x));  // [n, H]
  }
};

class MoeBlock : public FeedForwardBlock {
 public:
  MoeBlock(const MoeSpec& spec, WeightStore& ws, const std::string& p, int64_t H, const at::TensorOptions& o)
      : m_spec(spec) {
    if (spec.experts < 1 || spec.topK < 1 || spec.topK > spec.experts || spec.intermediate < 1)
      throw ConfigError("mixture of experts at '" + p + "': " + std::to_string(spec.topK) + " of " +
                        std::to_string(spec.experts) + " experts of width " +
                        std::to_string(spec.intermediate) +
                        " (expected 1 <= experts per token <= experts and a positive width)");
    const int64_t E = spec.experts, I = spec.intermediate;
    m_router = takeLinear(ws, p + spec.router, E, H, spec.routerBias, o);
    if (spec.packedExperts) {
      m_gateUp = ws.take(p + spec.expertPrefix + "gate_up_proj", {E, H, 2 * I}, o);        // [E, H, 2I]
      m_gateUpBias = ws.take(p + spec.expertPrefix + "gate_up_proj_bias", {E, 2 * I}, o);  // [E, 2I]
      m_down = ws.take(p + spec.expertPrefix + "down_proj", {E, I, H}, o);                 // [E, I, H]
      m_downBias = ws.take(p + spec.expertPrefix + "down_proj_bias", {E, H}, o);           // [E, H]
    } else {
      for (int64_t e = 0; e < E; ++e) {
        const std::string b = p + spec.expertPrefix + std::to_string(e) + ".";
        m_experts.push_back({takeLinear(ws, b + spec.gateName, I, H, false, o),
                             takeLinear(ws, b + spec.upName, I, H, false, o),
                             takeLinear(ws, b + spec.downName, H, I, false, o)});
      }
    }
    if (!spec.sharedName.empty()) {
      const std::string b = p + spec.sharedName + ".";
      const int64_t S = spec.sharedIntermediate;
      m_shared = {takeLinear(ws, b + "gate_proj", S, H, false, o),
                  takeLinear(ws, b + "up_proj", S, H, false, o),
                  takeLinear(ws, b + "down_proj", H, S, false, o)};
      if (!spec.sharedGateName.empty())
        m_sharedGate = takeLinear(ws, p + spec.sharedGateName, 1, H, false, o);
    }
  }

  at::Tensor forward(const at::Tensor& x, const ForwardOptions& options, int layer) const override {
    RoutingRecord r;
    r.logits = m_router(x).to(at::kFloat);  // [T, E]
    if (m_spec.routing == MoeRouting::SoftmaxTopK) {
      r.probs = at::softmax(r.logits, -1);                                  // [T, E]
      auto [weights, chosen] = r.probs.topk(m_spec.topK, -1);               // [T, k] each
      if (m_spec.normalizeTopK) weights = weights / weights.sum(-1, true);  // [T, k]
      r.weights = weights;
      r.chosen = chosen;
    } else {
      r.probs = at::softmax(r.logits, -1);                  // [T, E] (shown; the mix uses the k logits only)
      auto [top, chosen] = r.logits.topk(m_spec.topK, -1);  // [T, k] each
      r.weights = at::softmax(top, -1);                     // [T, k]
      r.chosen = chosen;
    }
    if (options.hook) options.hook->onRouting({"self", layer}, r, options.positionOffset);

    at::Tensor out = at::zeros_like(x);                        // [T, H]
    const at::Tensor weights = r.weights.to(x.scalar_type());  // [T, k]
    for (int64_t e = 0; e < m_spec.experts; ++e) {
      const at::Tensor picked = r.chosen.eq(e);                      // [T, k] (at most one slot per token)
      const at::Tensor tokens = picked.any(1).nonzero().squeeze(1);  // [n]
      if (tokens.size(0) == 0) continue;
      const at::Tensor w =
          weights.masked_fill(picked.logical_not(), 0).sum(1).index_select(0, tokens);  // [n]
      const at::Tensor xe = x.index_select(0, tokens);                                  // [n, H]
      out.index_add_(0, tokens, expert(e, xe) * w.unsqueeze(1));                        // [T, H]
    }
    if (m_shared.down.wt.defined()) {
      at::Tensor shared = m_shared(m_spec.activation, x);                          // [T, H]
      if (m_sharedGate.wt.defined()) shared = shared * m_sharedGate(x).sigmoid();  // [T, H]
      out = out + shared;                                                          // [T, H]
    }
    return out;
  }

 private:
  at::Tensor expert(int64_t e, const at::Tensor& x) const {
    if (!m_spec.packedExperts) return m_experts[static_cast<size_t>(e)](m_spec.activation, x);  // [n, H]
    const at::Tensor gateUp = at::matmul(x, m_gateUp[e]) + m_gateUpBias[e];                     // [n, 2I]
    const int64_t I = m_spec.intermediate;
    const at::Tensor pairs = gateUp.view({x.size(0), I, 2});  // [n, I, 2]: (gate, up) interleaved
    const double limit = m_spec.swigluLimit;
    const at::Tensor gate = at::clamp_max(pairs.select(2, 0), limit);    // [n, I]
    const at::Tensor up = at::clamp(pairs.select(2, 1), -limit, limit);  // [n, I]
    const at::Tensor glu = gate * (gate * 1.702).sigmoid();              // [n, I]
    return at::matmul((up + 1) * glu, m_down[e]) + m_downBias[e];        // [n, H]
  }

  MoeSpec m_spec;
  Linear m_router;
  std::vector<ExpertMlp> m_experts;
  at::Tensor m_gateUp, m_gateUpBias, m_down, m_downBias;
  ExpertMlp m_shared;
  Linear m_sharedGate;
};

}  // namespace

std::unique_ptr<FeedForwardBlock> makeMoeBlock(const MoeSpec& spec, WeightStore& ws,
                                               const std::string& layerPrefix, int64_t hidden,
                                               const at::TensorOptions& o) {
  return std::make_unique<MoeBlock>(spec, ws, layerPrefix, hidden, o);
}

}  // namespace attnscope
