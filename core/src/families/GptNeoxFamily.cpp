// GPT-NeoX / Pythia (GPTNeoXForCausalLM), HF model_type "gpt_neox".
// A fused query_key_value whose output is laid out per head ([T, heads, 3·d], q | k | v inside each head); rotary
// on the first head_dim·rotary_pct channels of each head (rotate-half within them); LayerNorm blocks with a
// parallel residual x + attn(ln1 x) + mlp(ln2 x) (or the sequential one); erf GELU; an untied embed_out.
#include <ATen/ops/embedding.h>
#include <ATen/ops/linear.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "graphs/Rotary.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class GptNeoxFamily : public Model {
 public:
  GptNeoxFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const std::string& path = cfg.path();
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    const int64_t I = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
    const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    const int64_t P = cfg.optIntIn("max_position_embeddings", 2048, 1, kMaxPositions);
    if (H % m_heads != 0)
      throw ConfigError("'" + path + "': hidden_size " + std::to_string(H) + " is not divisible by " +
                        "num_attention_heads " + std::to_string(m_heads));
    m_headDim = H / m_heads;
    const double eps = cfg.optDouble("layer_norm_eps", 1e-5);
    m_act = cfg.optString("hidden_act", "gelu");
    checkActivation(m_act, path);
    m_parallel = cfg.optBool("use_parallel_residual", true);
    const double pct = cfg.has("partial_rotary_factor") ? cfg.requireDouble("partial_rotary_factor")
                                                        : cfg.optDouble("rotary_pct", 0.25);
    if (!(pct > 0 && pct <= 1)) throw ConfigError("'" + path + "': rotary_pct must be in (0, 1]");
    m_rotary = Rotary::fromConfig(cfg, m_headDim, static_cast<int64_t>(static_cast<double>(m_headDim) * pct));
    const bool bias = cfg.optBool("attention_bias", true);

    const std::string p = detectPrefix(ws, {"gpt_neox.", ""}, "embed_in.weight");
    m_embed = ws.take(p + "embed_in.weight", {V, H}, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "layers." + std::to_string(l) + ".";
      Layer layer;
      layer.ln1 = takeLayerNorm(ws, b + "input_layernorm.weight", b + "input_layernorm.bias", H, eps, o);
      layer.ln2 = takeLayerNorm(ws, b + "post_attention_layernorm.weight", b + "post_attention_layernorm.bias", H,
                                eps, o);
      layer.qkv = takeLinear(ws, b + "attention.query_key_value", 3 * H, H, bias, o);
      layer.dense = takeLinear(ws, b + "attention.dense", H, H, bias, o);
      layer.up = takeLinear(ws, b + "mlp.dense_h_to_4h", I, H, true, o);
      layer.down = takeLinear(ws, b + "mlp.dense_4h_to_h", H, I, true, o);
      for (const char* buffer : {"attention.bias", "attention.masked_bias", "attention.rotary_emb.inv_freq"})
        ws.ignore(b + buffer);  // non-persistent buffers older Pythia checkpoints carry
      m_layers.push_back(std::move(layer));
    }
    m_lnf = takeLayerNorm(ws, p + "final_layer_norm.weight", p + "final_layer_norm.bias", H, eps, o);
    const bool tied = cfg.optBool("tie_word_embeddings", false);
    m_out = tied ? ws.takeOptional("embed_out.weight", {V, H}, o) : ws.take("embed_out.weight", {V, H}, o);
    if (!m_out.defined() && tied) m_out = m_embed;

    describeTextModel(m_info, "gpt_neox", "GPTNeoXForCausalLM", L, m_heads, H, V, P, true);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }
  std::string lensStack() const override { return "self"; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    return at::linear(m_lnf(hidden), m_out);  // [T, V]
  }
  bool hasDirectAttribution() const override { return true; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).dense.wt, headOutputs);  // [heads, T, H]
  }
  at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                              double* constant) const override {
    return frozenLayerNormHead(parts, residual, &m_lnf, at::Tensor(), m_out, at::Tensor(), target, constant);
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T + options.positionOffset, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = options.positionOffset == 0 ? keyPaddingMask(inputs, T, m_device) : at::Tensor();
    const RotaryTables rope = m_rotary.tables(options.positionOffset, T, m_device, m_embed.scalar_type());

    at::Tensor h = at::embedding(m_embed, ids);  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      // Per-head fused layout: [T, heads, 3·d] with q | k | v inside each head.
      const at::Tensor qkv = L.qkv(L.ln1(h)).view({T, m_heads, 3 * m_headDim}).transpose(0, 1);  // [heads, T, 3d]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = 1.0 / std::sqrt(static_cast<double>(m_headDim));
      call.causal = true;
      call.keyPaddingMask = padding;
      call.cache = options.cache ? &(*options.cache)[l] : nullptr;
      const at::Tensor ctx = computeAttention(call, m_rotary.apply(qkv.narrow(-1, 0, m_headDim), rope),
                                              m_rotary.apply(qkv.narrow(-1, m_headDim, m_headDim), rope),
                                              qkv.narrow(-1, 2 * m_headDim, m_headDim));  // [heads, T, d]
      const at::Tensor attn = L.dense(mergeHeads(ctx));                                   // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      if (!m_parallel) h = h + attn;                                     // [T, H]
      const at::Tensor mlp = L.down(applyActivation(m_act, L.up(L.ln2(h))));  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = m_parallel ? h + attn + mlp : h + mlp;                         // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    h = m_lnf(h);  // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;           // [T, H]
    out["logits"] = at::linear(logitRows(h, options), m_out);  // [T or 1, V]
    return out;
  }

 private:
  struct Layer {
    LayerNorm ln1, ln2;
    Linear qkv, dense, up, down;
  };
  at::Device m_device;
  int64_t m_heads = 0, m_headDim = 0;
  std::string m_act;
  bool m_parallel = true;
  Rotary m_rotary;
  at::Tensor m_embed, m_out;
  LayerNorm m_lnf;
  std::vector<Layer> m_layers;
};

const RegisterModelFamily kRegistration({"gpt_neox", "text",
                                         "GPT-NeoX / Pythia decoder (GPTNeoXForCausalLM, partial rotary)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new GptNeoxFamily(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
