#include "graphs/RotaryDecoder.h"

#include <ATen/ops/embedding.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/tanh.h>

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

/// A norm of the decoder: RMSNorm (weight only) or LayerNorm (weight and bias).
struct DecoderNorm {
  at::Tensor w, b;  ///< [dim]
};

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
    m_eps = spec.layerNorms ? cfg.optDouble("norm_epsilon", 1e-5) : cfg.optDouble("rms_norm_eps", 1e-6);
    if (!(m_eps >= 0) || !std::isfinite(m_eps))
      throw ConfigError("'" + path + "': " + (spec.layerNorms ? "norm_epsilon" : "rms_norm_eps") + " must be >= 0");
    checkActivation(spec.activation, path);
    for (const auto& [what, value] : {std::pair<const char*, double>{"the attention scale", spec.attentionScale},
                                      {"attn_logit_softcapping", spec.attentionSoftcap},
                                      {"final_logit_softcapping", spec.finalSoftcap},
                                      {"embedding_multiplier", spec.embeddingMultiplier},
                                      {"residual_multiplier", spec.residualMultiplier},
                                      {"logits_scaling", spec.logitsDivisor}})
      if (!std::isfinite(value) || value < 0 || (value == 0 && std::string(what) == "logits_scaling"))
        throw ConfigError("'" + path + "': " + what + " must be a finite number >= 0 (logits_scaling > 0), not " +
                          std::to_string(value));
    // Partial rotary: HF rotates int(head_dim * factor) channels.
    const int64_t rotaryDim = static_cast<int64_t>(static_cast<double>(m_headDim) * spec.rotaryFraction);
    m_rotaries.push_back(Rotary::fromConfig(cfg, m_headDim, rotaryDim));
    if (!spec.localRotaryConfig.is_null()) {
      nlohmann::json local = cfg.json();
      for (const auto& [key, value] : spec.localRotaryConfig.items()) local[key] = value;
      m_rotaries.push_back(Rotary::fromConfig(ModelConfig::fromJson(local, path), m_headDim, rotaryDim));
    }
    auto perLayer = [&](size_t n, const char* what) {
      if (n != 0 && static_cast<int64_t>(n) != L)
        throw AttnScopeError(std::string("internal: ") + what + " given for " + std::to_string(n) + " of " +
                             std::to_string(L) + " layers");
    };
    perLayer(spec.slidingWindows.size(), "sliding windows");
    perLayer(spec.noRope.size(), "NoPE layers");
    perLayer(spec.chunkSizes.size(), "chunk sizes");

    const int64_t qRows = m_heads * m_headDim, kvRows = m_kvHeads * m_headDim;
    const std::string p = detectPrefix(ws, {"model.", ""}, "embed_tokens.weight");
    m_embed = ws.take(p + "embed_tokens.weight", {V, H}, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "layers." + std::to_string(l) + ".";
      Layer layer;
      if (spec.preNorms) layer.inNorm = norm(ws, b + "input_layernorm", H, o);
      if (spec.postSublayerNorms) {
        layer.postAttnNorm = norm(ws, b + "post_attention_layernorm", H, o);
        layer.postMlpNorm = norm(ws, b + "post_feedforward_layernorm", H, o);
        if (spec.preNorms) layer.preMlpNorm = norm(ws, b + "pre_feedforward_layernorm", H, o);
      } else {
        layer.preMlpNorm = norm(ws, b + "post_attention_layernorm", H, o);
      }
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
      if (spec.qkNorm == QkNorm::PerHead) {
        layer.qNorm = norm(ws, b + "self_attn.q_norm", m_headDim, o);
        layer.kNorm = norm(ws, b + "self_attn.k_norm", m_headDim, o);
      } else if (spec.qkNorm == QkNorm::Projection) {
        layer.qNorm = norm(ws, b + "self_attn.q_norm", qRows, o);
        layer.kNorm = norm(ws, b + "self_attn.k_norm", kvRows, o);
      }
      if (spec.attentionSinks) layer.sinks = ws.take(b + "self_attn.sinks", {m_heads}, o);  // [heads]
      if (spec.feedForward) layer.moe = spec.feedForward(ws, b, static_cast<int>(l), o);
      if (layer.moe) {
        m_info.routedLayers.push_back(static_cast<int>(l));
      } else if (!spec.gatedMlp) {
        layer.up = takeLinear(ws, b + spec.mlpUpName, I, H, spec.mlpBias, o);
        layer.down = takeLinear(ws, b + spec.mlpDownName, H, I, spec.mlpBias, o);
      } else if (spec.fusedGateUp) {
        std::vector<Linear> gateUp = splitRows(ws, b + "mlp.gate_up_proj", {I, I}, H, o);
        layer.gate = gateUp[0];
        layer.up = gateUp[1];
        layer.down = takeLinear(ws, b + "mlp.down_proj", H, I, spec.mlpBias, o);
      } else {
        layer.gate = takeLinear(ws, b + "mlp.gate_proj", I, H, spec.mlpBias, o);
        layer.up = takeLinear(ws, b + "mlp.up_proj", I, H, spec.mlpBias, o);
        layer.down = takeLinear(ws, b + "mlp.down_proj", H, I, spec.mlpBias, o);
      }
      ws.ignore(b + "self_attn.rotary_emb.inv_freq");  // a buffer older checkpoints carry
      const bool sliding = !spec.slidingWindows.empty() && spec.slidingWindows[l] > 0;
      if (!spec.noRope.empty() && spec.noRope[l])
        layer.rotary = -1;
      else
        layer.rotary = sliding && m_rotaries.size() > 1 ? 1 : 0;
      m_layers.push_back(std::move(layer));
    }
    m_norm = norm(ws, p + "norm", H, o);
    const bool tied = cfg.optBool("tie_word_embeddings", spec.tiedByDefault);
    m_lmHead = tied ? ws.takeOptional("lm_head.weight", {V, H}, o) : ws.take("lm_head.weight", {V, H}, o);
    if (!m_lmHead.defined() && tied) m_lmHead = m_embed;
    // Gemma multiplies by sqrt(hidden) as a tensor of the compute dtype: the factor is rounded to it.
    if (spec.scaleEmbeddings)
      m_embedScale = static_cast<double>(static_cast<float>(std::sqrt(static_cast<double>(H))));
    else
      m_embedScale = spec.embeddingMultiplier;

    describeTextModel(m_info, spec.modelType, spec.architecture, L, m_heads, H, V, P, true, m_kvHeads);
    m_info.attentionSinks = spec.attentionSinks;
    m_info.experts = spec.experts;
    m_info.expertsPerToken = spec.expertsPerToken;
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }
  std::string lensStack() const override { return "self"; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    return finishLogits(at::linear(applyNorm(hidden, m_norm), m_lmHead));  // [T, V]
  }
  /// Head writes are linear in each head's output unless a norm follows the attention block (Gemma-2/3, OLMo-2)
  /// or the logits are soft-capped.
  bool hasDirectAttribution() const override { return !m_spec.postSublayerNorms && m_spec.finalSoftcap == 0; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    const at::Tensor w = headWritesThrough(m_layers.at(static_cast<size_t>(layer)).o.wt, headOutputs);  // [heads, T, H]
    return m_spec.residualMultiplier == 1.0 ? w : w * m_spec.residualMultiplier;                        // [heads, T, H]
  }
  at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                              double* constant) const override {
    at::Tensor logits;
    if (m_spec.layerNorms) {
      const LayerNorm n{m_norm.w, m_norm.b, m_eps};
      logits = frozenLayerNormHead(parts, residual, &n, at::Tensor(), m_lmHead, at::Tensor(), target, constant);  // [N]
    } else {
      logits = frozenRmsNormHead(parts, residual, m_eps, m_norm.w, m_lmHead, target, constant);  // [N]
    }
    if (m_spec.logitsDivisor != 1.0) {
      if (constant) *constant /= m_spec.logitsDivisor;
      logits = logits / m_spec.logitsDivisor;  // [N]
    }
    return logits;
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T + options.positionOffset, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = options.positionOffset == 0 ? keyPaddingMask(inputs, T, m_device) : at::Tensor();
    std::vector<RotaryTables> rope;
    for (const Rotary& r : m_rotaries) rope.push_back(r.tables(options.positionOffset, T, m_device, m_embed.scalar_type()));
    const double scale =
        m_spec.attentionScale > 0 ? m_spec.attentionScale : 1.0 / std::sqrt(static_cast<double>(m_headDim));

    at::Tensor h = at::embedding(m_embed, ids);  // [T, H]
    if (m_embedScale != 1.0) h = h * m_embedScale;  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const int layer = static_cast<int>(l);
      const at::Tensor x = m_spec.preNorms ? applyNorm(h, L.inNorm) : h;  // [T, H]
      AttentionCall call = attentionCall(options, "self", layer);
      call.scale = scale;
      call.causal = true;
      call.slidingWindow = m_spec.slidingWindows.empty() ? 0 : m_spec.slidingWindows[l];
      call.chunkSize = m_spec.chunkSizes.empty() ? 0 : m_spec.chunkSizes[l];
      call.softcap = m_spec.attentionSoftcap;
      call.sinks = L.sinks;
      call.keyPaddingMask = padding;
      call.cache = options.cache ? &(*options.cache)[l] : nullptr;
      at::Tensor q = L.q(x), k = L.k(x);  // [T, heads·d], [T, kv·d]
      if (m_spec.qkNorm == QkNorm::Projection) {
        q = applyNorm(q, L.qNorm);  // [T, heads·d]
        k = applyNorm(k, L.kNorm);  // [T, kv·d]
      }
      q = splitHeads(q, m_heads);    // [heads, T, d]
      k = splitHeads(k, m_kvHeads);  // [kv, T, d]
      if (m_spec.qkNorm == QkNorm::PerHead) {
        q = applyNorm(q, L.qNorm);  // [heads, T, d]
        k = applyNorm(k, L.kNorm);  // [kv, T, d]
      }
      if (L.rotary >= 0) {
        const Rotary& r = m_rotaries[static_cast<size_t>(L.rotary)];
        q = r.apply(q, rope[static_cast<size_t>(L.rotary)]);  // [heads, T, d]
        k = r.apply(k, rope[static_cast<size_t>(L.rotary)]);  // [kv, T, d]
      }
      const at::Tensor ctx = computeAttention(call, q, k, splitHeads(L.v(x), m_kvHeads));  // [heads, T, d]
      at::Tensor attn = L.o(mergeHeads(ctx));                                               // [T, H]
      if (m_spec.postSublayerNorms) attn = applyNorm(attn, L.postAttnNorm);                 // [T, H]
      if (m_spec.residualMultiplier != 1.0) attn = attn * m_spec.residualMultiplier;        // [T, H]
      residualWrite(options, "self", layer, ResidualPart::Attention, attn);
      h = h + attn;  // [T, H]
      const at::Tensor y = L.preMlpNorm.w.defined() ? applyNorm(h, L.preMlpNorm) : h;  // [T, H]
      at::Tensor mlp;
      if (L.moe)
        mlp = L.moe->forward(y, options, layer);  // [T, H]
      else if (!m_spec.gatedMlp)
        mlp = L.down(applyActivation(m_spec.activation, L.up(y)));  // [T, H]
      else
        mlp = L.down(applyActivation(m_spec.activation, L.gate(y)) * L.up(y));  // [T, H]
      if (m_spec.postSublayerNorms) mlp = applyNorm(mlp, L.postMlpNorm);           // [T, H]
      if (m_spec.residualMultiplier != 1.0) mlp = mlp * m_spec.residualMultiplier;  // [T, H]
      residualWrite(options, "self", layer, ResidualPart::Mlp, mlp);
      h = h + mlp;  // [T, H]
      layerDone(options, "self", layer, h);
    }
    h = applyNorm(h, m_norm);  // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;                                                // [T, H]
    out["logits"] = finishLogits(at::linear(logitRows(h, options), m_lmHead));  // [T or 1, V]
    return out;
  }

 private:
  /// A norm's weights: RMSNorm \p name.weight, with an offset (Gemma) the stored w becomes (offset + w) in float32
  /// as HF computes it; LayerNorm (Starcoder2) also \p name.bias.
  DecoderNorm norm(WeightStore& ws, const std::string& name, int64_t dim, const at::TensorOptions& o) {
    DecoderNorm n;
    n.w = ws.take(name + ".weight", {dim}, o);  // [dim]
    if (m_spec.layerNorms) n.b = ws.take(name + ".bias", {dim}, o);  // [dim]
    if (n.w.defined() && m_spec.normOffset != 0) n.w = n.w.to(at::kFloat) + m_spec.normOffset;  // [dim]
    return n;
  }

  /// LayerNorm, or x * rsqrt(mean(x^2) + eps) computed in float32 times the weight: Llama casts back before the
  /// weight, Gemma multiplies by (1 + w) in float32 and casts after. Over the last dimension of any shape.
  at::Tensor applyNorm(const at::Tensor& x, const DecoderNorm& n) const {
    if (m_spec.layerNorms) return at::layer_norm(x, {n.w.size(0)}, n.w, n.b, m_eps);  // [..., dim]
    const at::Tensor x32 = x.to(at::kFloat);                                        // [..., dim]
    const at::Tensor normed = x32 * at::rsqrt(x32.pow(2).mean(-1, true) + m_eps);  // [..., dim]
    if (m_spec.normOffset != 0) return (normed * n.w).to(x.scalar_type());         // [..., dim]
    return normed.to(x.scalar_type()) * n.w;                                        // [..., dim]
  }

  /// The LM head's output as the family returns it: ÷ logits_scaling (Granite), soft-capped (Gemma-2).
  at::Tensor finishLogits(at::Tensor logits) const {
    if (m_spec.logitsDivisor != 1.0) logits = logits / m_spec.logitsDivisor;  // [T, V]
    if (m_spec.finalSoftcap > 0) logits = at::tanh(logits / m_spec.finalSoftcap) * m_spec.finalSoftcap;  // [T, V]
    return logits;
  }

  struct Layer {
    DecoderNorm inNorm, preMlpNorm, postAttnNorm, postMlpNorm, qNorm, kNorm;
    Linear q, k, v, o, gate, up, down;
    at::Tensor sinks;  ///< [heads] learned sink logits (gpt-oss)
    std::shared_ptr<FeedForwardBlock> moe;
    int rotary = 0;    ///< index into m_rotaries; -1 = NoPE
  };
  RotaryDecoderSpec m_spec;
  at::Device m_device;
  int64_t m_heads = 0, m_kvHeads = 0, m_headDim = 0;
  double m_eps = 1e-6;
  double m_embedScale = 1.0;
  std::vector<Rotary> m_rotaries;  ///< [0] the global rotary, [1] the sliding layers' (Gemma-3)
  at::Tensor m_embed, m_lmHead;
  DecoderNorm m_norm;
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

std::vector<int64_t> slidingWindowsFromTypes(const std::vector<std::string>& types, int64_t window) {
  std::vector<int64_t> out;
  for (const std::string& t : types) out.push_back(t == "sliding_attention" ? window : 0);
  return out;
}

}  // namespace attnscope

namespace attnscope {

std::vector<std::string> layerTypesFrom(const ModelConfig& cfg, int64_t layers) {
  if (!cfg.has("layer_types")) return {};
  const nlohmann::json& types = cfg.json().at("layer_types");
  if (!types.is_array() || static_cast<int64_t>(types.size()) != layers)
    throw ConfigError("'" + cfg.path() + "': layer_types must list one entry per layer (" + std::to_string(layers) +
                      ")");
  std::vector<std::string> out;
  for (const auto& t : types) {
    if (!t.is_string() || (t != "sliding_attention" && t != "full_attention" && t != "chunked_attention"))
      throw ConfigError("'" + cfg.path() + "': layer_types entry " + t.dump() +
                        " is not sliding_attention, full_attention or chunked_attention");
    out.push_back(t.get<std::string>());
  }
  return out;
}

}  // namespace attnscope
