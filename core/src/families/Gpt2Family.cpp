// GPT-2 (GPT2Model, GPT2LMHeadModel), HF model_type "gpt2".
// Pre-LN decoder; Conv1D weights are [in, out]; c_attn splits into q | k | v.
#include <ATen/ops/arange.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/linear.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class Gpt2Family : public Model {
 public:
  Gpt2Family(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const int64_t E = cfg.requireIntAny({"n_embd", "hidden_size"});
    const int64_t L = cfg.requireIntAny({"n_layer", "num_hidden_layers"});
    m_heads = cfg.requireIntAny({"n_head", "num_attention_heads"});
    if (E < 1 || E > kMaxWidth || L < 1 || L > kMaxLayers || m_heads < 1 || m_heads > kMaxHeads)
      throw ConfigError("'" + cfg.path() + "': n_embd, n_layer or n_head is out of range (" + std::to_string(E) + ", " +
                        std::to_string(L) + ", " + std::to_string(m_heads) + ")");
    const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    const int64_t P = cfg.requireIntAny({"n_positions", "max_position_embeddings"});
    if (P < 1 || P > kMaxPositions) throw ConfigError("'" + cfg.path() + "': n_positions is out of range");
    const int64_t inner = cfg.optIntIn("n_inner", 4 * E, 1, kMaxWidth);
    const double eps = cfg.optDouble("layer_norm_epsilon", 1e-5);
    m_act = cfg.optString("activation_function", "gelu_new");
    checkActivation(m_act, cfg.path());
    if (E % m_heads != 0)
      throw ConfigError("'" + cfg.path() + "': n_embd " + std::to_string(E) + " is not divisible by n_head " +
                        std::to_string(m_heads));
    m_scaleWeights = cfg.optBool("scale_attn_weights", true);
    m_scaleByLayer = cfg.optBool("scale_attn_by_inverse_layer_idx", false);
    m_headDim = E / m_heads;

    const std::string p = detectPrefix(ws, {"transformer.", ""}, "wte.weight");
    m_wte = ws.take(p + "wte.weight", {V, E}, o);
    m_wpe = ws.take(p + "wpe.weight", {P, E}, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "h." + std::to_string(l) + ".";
      Layer layer;
      layer.ln1 = takeLayerNorm(ws, b + "ln_1.weight", b + "ln_1.bias", E, eps, o);
      layer.qkv = takeConv1D(ws, b + "attn.c_attn", E, 3 * E, o);
      layer.proj = takeConv1D(ws, b + "attn.c_proj", E, E, o);
      layer.ln2 = takeLayerNorm(ws, b + "ln_2.weight", b + "ln_2.bias", E, eps, o);
      layer.fc = takeConv1D(ws, b + "mlp.c_fc", E, inner, o);
      layer.fcProj = takeConv1D(ws, b + "mlp.c_proj", inner, E, o);
      ws.ignore(b + "attn.bias");  // non-persistent causal-mask buffers some checkpoints carry
      ws.ignore(b + "attn.masked_bias");
      m_layers.push_back(std::move(layer));
    }
    m_lnf = takeLayerNorm(ws, p + "ln_f.weight", p + "ln_f.bias", E, eps, o);
    m_lmHead = ws.takeOptional("lm_head.weight", {V, E}, o);
    if (!m_lmHead.defined()) m_lmHead = m_wte;  // tied
    describeTextModel(m_info, "gpt2", "GPT2LMHeadModel", L, m_heads, E, V, P, true);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }
  std::string lensStack() const override { return "self"; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    return at::linear(m_lnf(hidden), m_lmHead);  // [T, V]
  }
  bool hasDirectAttribution() const override { return true; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).proj.w, headOutputs);  // [heads, T, E]
  }
  at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                              double* constant) const override {
    return frozenLayerNormHead(parts, residual, &m_lnf, at::Tensor(), m_lmHead, at::Tensor(), target, constant);
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T + options.positionOffset, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = options.positionOffset == 0 ? keyPaddingMask(inputs, T, m_device) : at::Tensor();
    const at::Tensor positions = at::arange(options.positionOffset, options.positionOffset + T, ids.options());  // [T]
    at::Tensor h = at::embedding(m_wte, ids) + at::embedding(m_wpe, positions);  // [T, E]
    const int64_t E = h.size(1);
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const at::Tensor qkv = L.qkv(L.ln1(h));  // [T, 3E]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = (m_scaleWeights ? 1.0 / std::sqrt(static_cast<double>(m_headDim)) : 1.0) /
                   (m_scaleByLayer ? static_cast<double>(l + 1) : 1.0);
      call.causal = true;
      call.keyPaddingMask = padding;
      call.cache = options.cache ? &(*options.cache)[l] : nullptr;
      const at::Tensor ctx = computeAttention(call, splitHeads(qkv.narrow(1, 0, E), m_heads),
                                              splitHeads(qkv.narrow(1, E, E), m_heads),
                                              splitHeads(qkv.narrow(1, 2 * E, E), m_heads));  // [heads, T, d]
      const at::Tensor attn = L.proj(mergeHeads(ctx));                                    // [T, E]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;                                                                       // [T, E]
      const at::Tensor mlp = L.fcProj(applyActivation(m_act, L.fc(L.ln2(h))));            // [T, E]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = h + mlp;                                                                        // [T, E]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    h = m_lnf(h);  // [T, E]
    TensorMap out;
    out["last_hidden_state"] = h;                 // [T, E]
    out["logits"] = at::linear(logitRows(h, options), m_lmHead);  // [T or 1, V]
    return out;
  }

 private:
  struct Layer {
    LayerNorm ln1, ln2;
    Conv1D qkv, proj, fc, fcProj;
  };
  at::Device m_device;
  int64_t m_heads = 0, m_headDim = 0;
  bool m_scaleWeights = true, m_scaleByLayer = false;
  std::string m_act;
  at::Tensor m_wte, m_wpe, m_lmHead;
  std::vector<Layer> m_layers;
  LayerNorm m_lnf;
};

const RegisterModelFamily kRegistration({"gpt2", "text", "GPT-2 decoder (GPT2LMHeadModel)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new Gpt2Family(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
