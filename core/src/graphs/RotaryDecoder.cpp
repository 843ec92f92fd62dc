#include "graphs/RotaryDecoder.h"

#include <ATen/ops/embedding.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/rsqrt.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "graphs/Rotary.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {

namespace {

/// Linear layers made from consecutive row blocks of one fused weight [rows, in] (Phi-3's qkv_proj, gate_up_proj).
std::vector<Linear> splitRows(WeightStore& ws, const std::string& name, const std::vector<int64_t>& rows, int64_t in,
                              const at::TensorOptions& o) {
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  const at::Tensor w = ws.take(name + ".weight", {total, in}, o);  // [total, in]
  std::vector<Linear> out(rows.size());
  if (!w.defined()) return out;
  int64_t at = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    out[i].wt = w.narrow(0, at, rows[i]).t().contiguous();  // [in, rows_i]
    at += rows[i];
  }
  return out;
}

class RotaryDecoder : public Model {
 public:
  RotaryDecoder(const RotaryDecoderSpec& spec, const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o)
      : m_spec(spec), m_device(o.device()) {
    const std::string& path = cfg.path();
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    m_kvHeads = cfg.optIntIn("num_key_value_heads", m_heads, 1, kMaxHeads);
    const int64_t I = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
    const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    const int64_t P = cfg.optIntIn("max_position_embeddings", 2048, 1, kMaxPositions);
    if (m_heads % m_kvHeads != 0)
      throw ConfigError("'" + path + "': num_attention_heads " + std::to_string(m_heads) +
                        " is not a multiple of num_key_value_heads " + std::to_string(m_kvHeads));
    if (cfg.has("head_dim")) {
      m_headDim = cfg.requireIntIn("head_dim", 1, kMaxWidth);
    } else {
      if (H % m_heads != 0)
        throw ConfigError("'" + path + "': hidden_size " + std::to_string(H) + " is not divisible by " +
                          "num_attention_heads " + std::to_string(m_heads) + " and there is no head_dim");
      m_headDim = H / m_heads;
    }
    m_eps = cfg.optDouble("rms_norm_eps", 1e-6);
    if (!(m_eps >= 0) || !std::isfinite(m_eps)) throw ConfigError("'" + path + "': rms_norm_eps must be >= 0");
    checkActivation(spec.activation, path);
    // Partial rotary: HF rotates int(head_dim * factor) channels.
    const int64_t rotaryDim = static_cast<int64_t>(static_cast<double>(m_headDim) * spec.rotaryFraction);
    m_rotary = Rotary::fromConfig(cfg, m_headDim, rotaryDim);
    if (!spec.slidingWindows.empty() && static_cast<int64_t>(spec.slidingWindows.size()) != L)
      throw AttnScopeError("internal: sliding windows given for " + std::to_string(spec.slidingWindows.size()) +
                           " of " + std::to_string(L) + " layers");

    const int64_t qRows = m_heads * m_headDim, kvRows = m_kvHeads * m_headDim;
    const std::string p = detectPrefix(ws, {"model.", ""}, "embed_tokens.weight");
    m_embed = ws.take(p + "embed_tokens.weight", {V, H}, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "layers." + std::to_string(l) + ".";
      Layer layer;
      layer.inNorm = norm(ws, b + "input_layernorm.weight", H, o);
      if (spec.fusedQkv) {
        std::vector<Linear> qkv = splitRows(ws, b + "self_attn.qkv_proj", {qRows, kvRows, kvRows}, H, o);
        layer.q = qkv[0];
        layer.k = qkv[1];
        layer.v = qkv[2];
      } else {
        layer.q = takeLinear(ws, b + "self_attn.q_proj", qRows, H, spec.qkvBias, o);
        layer.k = takeLinear(ws, b + "self_attn.k_proj", kvRows, H, spec.qkvBias, o);
        layer.v = takeLinear(ws, b + "self_attn.v_proj", kvRows, H, spec.qkvBias, o);
      }
      layer.o = takeLinear(ws, b + "self_attn.o_proj", H, qRows, spec.outputBias, o);
      layer.postNorm = norm(ws, b + "post_attention_layernorm.weight", H, o);
      if (spec.fusedGateUp) {
        std::vector<Linear> gateUp = splitRows(ws, b + "mlp.gate_up_proj", {I, I}, H, o);
        layer.gate = gateUp[0];
        layer.up = gateUp[1];
      } else {
        layer.gate = takeLinear(ws, b + "mlp.gate_proj", I, H, spec.mlpBias, o);
        layer.up = takeLinear(ws, b + "mlp.up_proj", I, H, spec.mlpBias, o);
      }
      layer.down = takeLinear(ws, b + "mlp.down_proj", H, I, spec.mlpBias, o);
      ws.ignore(b + "self_attn.rotary_emb.inv_freq");  // a buffer older checkpoints carry
      m_layers.push_back(std::move(layer));
    }
    m_norm = norm(ws, p + "norm.weight", H, o);
    const bool tied = cfg.optBool("tie_word_embeddings", spec.tiedByDefault);
    m_lmHead = tied ? ws.takeOptional("lm_head.weight", {V, H}, o) : ws.take("lm_head.weight", {V, H}, o);
    if (!m_lmHead.defined() && tied) m_lmHead = m_embed;
    // Gemma multiplies by sqrt(hidden) as a tensor of the compute dtype: the factor is rounded to it.
    if (spec.scaleEmbeddings) m_embedScale = static_cast<double>(static_cast<float>(std::sqrt(static_cast<double>(H))));

    describeTextModel(m_info, spec.modelType, spec.architecture, L, m_heads, H, V, P, true, m_kvHeads);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }
  std::string lensStack() const override { return "self"; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    return at::linear(rmsNorm(hidden, m_norm), m_lmHead);  // [T, V]
  }
  bool hasDirectAttribution() const override { return true; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).o.wt, headOutputs);  // [heads, T, H]
  }
  at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                              double* constant) const override {
    return frozenRmsNormHead(parts, residual, m_eps, m_norm, m_lmHead, target, constant);  // [N]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T + options.positionOffset, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = options.positionOffset == 0 ? keyPaddingMask(inputs, T, m_device) : at::Tensor();
    const RotaryTables rope = m_rotary.tables(options.positionOffset, T, m_device, m_embed.scalar_type());

    at::Tensor h = at::embedding(m_embed, ids);  // [T, H]
    if (m_embedScale != 1.0) h = h * m_embedScale;  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const at::Tensor x = rmsNorm(h, L.inNorm);  // [T, H]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = 1.0 / std::sqrt(static_cast<double>(m_headDim));
      call.causal = true;
      call.slidingWindow = m_spec.slidingWindows.empty() ? 0 : m_spec.slidingWindows[l];
      call.keyPaddingMask = padding;
      call.cache = options.cache ? &(*options.cache)[l] : nullptr;
      const at::Tensor ctx = computeAttention(call, m_rotary.apply(splitHeads(L.q(x), m_heads), rope),
                                              m_rotary.apply(splitHeads(L.k(x), m_kvHeads), rope),
                                              splitHeads(L.v(x), m_kvHeads));  // [heads, T, d]
      const at::Tensor attn = L.o(mergeHeads(ctx));                            // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;                                                            // [T, H]
      const at::Tensor y = rmsNorm(h, L.postNorm);                             // [T, H]
      const at::Tensor mlp = L.down(applyActivation(m_spec.activation, L.gate(y)) * L.up(y));  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = h + mlp;                                                             // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    h = rmsNorm(h, m_norm);  // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;             // [T, H]
    out["logits"] = at::linear(logitRows(h, options), m_lmHead);  // [T or 1, V]
    return out;
  }

 private:
  /// An RMSNorm weight; with an offset (Gemma) the stored w becomes (offset + w) in float32, as HF computes it.
  at::Tensor norm(WeightStore& ws, const std::string& name, int64_t dim, const at::TensorOptions& o) {
    const at::Tensor w = ws.take(name, {dim}, o);  // [dim]
    if (!w.defined() || m_spec.normOffset == 0) return w;
    return w.to(at::kFloat) + m_spec.normOffset;  // [dim]
  }

  /// x * rsqrt(mean(x^2) + eps), computed in float32, times the weight: Llama casts back before the weight,
  /// Gemma multiplies by (1 + w) in float32 and casts after.
  at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& w) const {
    const at::Tensor x32 = x.to(at::kFloat);                                     // [T, H]
    const at::Tensor normed = x32 * at::rsqrt(x32.pow(2).mean(-1, true) + m_eps);  // [T, H]
    if (m_spec.normOffset != 0) return (normed * w).to(x.scalar_type());        // [T, H]
    return normed.to(x.scalar_type()) * w;                                      // [T, H]
  }

  struct Layer {
    at::Tensor inNorm, postNorm;
    Linear q, k, v, o, gate, up, down;
  };
  RotaryDecoderSpec m_spec;
  at::Device m_device;
  int64_t m_heads = 0, m_kvHeads = 0, m_headDim = 0;
  double m_eps = 1e-6;
  double m_embedScale = 1.0;
  Rotary m_rotary;
  at::Tensor m_embed, m_norm, m_lmHead;
  std::vector<Layer> m_layers;
};

}  // namespace

std::unique_ptr<Model> makeRotaryDecoder(const RotaryDecoderSpec& spec, const ModelConfig& cfg, WeightStore& ws,
                                         const at::TensorOptions& options) {
  return std::unique_ptr<Model>(new RotaryDecoder(spec, cfg, ws, options));
}

std::vector<int64_t> slidingWindowsFrom(const ModelConfig& cfg, const std::string& key, int64_t layers,
                                        int64_t firstLayer) {
  if (!cfg.has(key)) return {};
  const int64_t window = cfg.requireIntIn(key, 1, kMaxPositions);
  layers = std::min(std::max<int64_t>(layers, 0), kMaxLayers);
  std::vector<int64_t> out(static_cast<size_t>(layers), 0);
  for (int64_t l = std::max<int64_t>(firstLayer, 0); l < layers; ++l) out[static_cast<size_t>(l)] = window;
  return out;
}

}  // namespace attnscope
