// Llama (LlamaForCausalLM), HF model_type "llama".
// RMSNorm, RoPE in HF's rotate-half layout, grouped-query attention, SiLU-gated MLP.
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/rsqrt.h>

#include <cmath>

#include "FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

/// x * rsqrt(mean(x^2) + eps) * w, computed in float32.
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& w, double eps) {
  const at::Tensor x32 = x.to(at::kFloat);                                   // [T, H]
  const at::Tensor norm = x32 * at::rsqrt(x32.pow(2).mean(-1, true) + eps);  // [T, H]
  return norm.to(x.scalar_type()) * w;                                       // [T, H]
}

/// rotate_half: cat(-x2, x1) over the last dimension.
at::Tensor rotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);  // [heads, T, d]
}

class LlamaFamily : public Model {
 public:
  LlamaFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const int64_t H = cfg.requireInt("hidden_size");
    const int64_t L = cfg.requireInt("num_hidden_layers");
    m_heads = cfg.requireInt("num_attention_heads");
    m_kvHeads = cfg.optInt("num_key_value_heads", m_heads);
    const int64_t I = cfg.requireInt("intermediate_size");
    const int64_t V = cfg.requireInt("vocab_size");
    const int64_t P = cfg.optInt("max_position_embeddings", 2048);
    m_headDim = cfg.optInt("head_dim", H / m_heads);
    m_eps = cfg.optDouble("rms_norm_eps", 1e-6);
    m_act = cfg.optString("hidden_act", "silu");
    checkActivation(m_act, cfg.path());
    if (m_kvHeads <= 0 || m_heads % m_kvHeads != 0)
      throw ConfigError("'" + cfg.path() + "': num_attention_heads " + std::to_string(m_heads) +
                        " is not a multiple of num_key_value_heads " + std::to_string(m_kvHeads));
    if (m_headDim % 2 != 0) throw ConfigError("'" + cfg.path() + "': head_dim must be even for rotary embeddings");
    buildInvFreq(cfg);
    const bool bias = cfg.optBool("attention_bias", false);
    const bool mlpBias = cfg.optBool("mlp_bias", false);

    const std::string p = detectPrefix(ws, {"model.", ""}, "embed_tokens.weight");
    m_embed = ws.take(p + "embed_tokens.weight", {V, H}, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "layers." + std::to_string(l) + ".";
      Layer layer;
      layer.inNorm = ws.take(b + "input_layernorm.weight", {H}, o);
      layer.q = takeLinear(ws, b + "self_attn.q_proj", m_heads * m_headDim, H, bias, o);
      layer.k = takeLinear(ws, b + "self_attn.k_proj", m_kvHeads * m_headDim, H, bias, o);
      layer.v = takeLinear(ws, b + "self_attn.v_proj", m_kvHeads * m_headDim, H, bias, o);
      layer.o = takeLinear(ws, b + "self_attn.o_proj", H, m_heads * m_headDim, bias, o);
      layer.postNorm = ws.take(b + "post_attention_layernorm.weight", {H}, o);
      layer.gate = takeLinear(ws, b + "mlp.gate_proj", I, H, mlpBias, o);
      layer.up = takeLinear(ws, b + "mlp.up_proj", I, H, mlpBias, o);
      layer.down = takeLinear(ws, b + "mlp.down_proj", H, I, mlpBias, o);
      ws.ignore(b + "self_attn.rotary_emb.inv_freq");
      m_layers.push_back(std::move(layer));
    }
    m_norm = ws.take(p + "norm.weight", {H}, o);
    const bool tied = cfg.optBool("tie_word_embeddings", false);
    m_lmHead = tied ? ws.takeOptional("lm_head.weight", {V, H}, o) : ws.take("lm_head.weight", {V, H}, o);
    if (!m_lmHead.defined() && tied) m_lmHead = m_embed;
    m_info.modelType = "llama";
    m_info.architecture = "LlamaForCausalLM";
    m_info.modality = "text";
    m_info.head = "lm";
    m_info.causal = true;
    m_info.layers = static_cast<int>(L);
    m_info.heads = static_cast<int>(m_heads);
    m_info.kvHeads = static_cast<int>(m_kvHeads);
    m_info.hidden = static_cast<int>(H);
    m_info.vocab = static_cast<int>(V);
    m_info.maxPositions = static_cast<int>(P);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T + options.positionOffset, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = options.positionOffset == 0 ? keyPaddingMask(inputs, T, m_device) : at::Tensor();
    // Rotary tables for positions offset..offset+T-1, in float32.
    const at::Tensor pos = at::arange(options.positionOffset, options.positionOffset + T,
                                      at::TensorOptions().dtype(at::kFloat).device(m_device));  // [T]
    const at::Tensor freqs = pos.unsqueeze(1) * m_invFreq.unsqueeze(0);                        // [T, d/2]
    const at::Tensor emb = at::cat({freqs, freqs}, -1);                                        // [T, d]
    const at::Tensor cos = emb.cos().to(m_embed.scalar_type()), sin = emb.sin().to(m_embed.scalar_type());  // [T, d]
    auto rope = [&](const at::Tensor& x) { return x * cos + rotateHalf(x) * sin; };  // [heads, T, d]

    at::Tensor h = at::embedding(m_embed, ids);  // [T, H]
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const at::Tensor x = rmsNorm(h, L.inNorm, m_eps);  // [T, H]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = 1.0 / std::sqrt(static_cast<double>(m_headDim));
      call.causal = true;
      call.keyPaddingMask = padding;
      call.cache = options.cache ? &(*options.cache)[l] : nullptr;
      const at::Tensor ctx = computeAttention(call, rope(splitHeads(L.q(x), m_heads)),
                                              rope(splitHeads(L.k(x), m_kvHeads)),
                                              splitHeads(L.v(x), m_kvHeads));  // [heads, T, d]
      h = h + L.o(mergeHeads(ctx));                                          // [T, H]
      const at::Tensor y = rmsNorm(h, L.postNorm, m_eps);                   // [T, H]
      h = h + L.down(applyActivation(m_act, L.gate(y)) * L.up(y));          // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    h = rmsNorm(h, m_norm, m_eps);  // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;             // [T, H]
    out["logits"] = at::linear(h, m_lmHead);  // [T, V]
    return out;
  }

 private:
  void buildInvFreq(const ModelConfig& cfg) {
    const double theta = cfg.optDouble("rope_theta", 10000.0);
    const int64_t half = m_headDim / 2;
    std::vector<float> inv(half);
    std::vector<double> base(half);
    for (int64_t i = 0; i < half; ++i) base[i] = 1.0 / std::pow(theta, (2.0 * i) / static_cast<double>(m_headDim));
    const auto& j = cfg.json();
    if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
      const auto& rs = j["rope_scaling"];
      const std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
      const double factor = rs.value("factor", 1.0);
      if (type == "linear") {
        for (auto& f : base) f /= factor;
      } else if (type == "llama3") {
        const double low = rs.value("low_freq_factor", 1.0), high = rs.value("high_freq_factor", 4.0);
        const double oldLen = rs.value("original_max_position_embeddings", 8192.0);
        const double lowWavelen = oldLen / low, highWavelen = oldLen / high;
        for (auto& f : base) {
          const double wavelen = 2.0 * M_PI / f;
          if (wavelen > lowWavelen) {
            f = f / factor;
          } else if (wavelen >= highWavelen) {
            const double smooth = (oldLen / wavelen - low) / (high - low);
            f = (1.0 - smooth) * f / factor + smooth * f;
          }
        }
      } else if (type != "default") {
        throw ConfigError("'" + cfg.path() + "': rope_scaling type '" + type +
                          "' is not supported (supported: linear, llama3)");
      }
    }
    for (int64_t i = 0; i < half; ++i) inv[i] = static_cast<float>(base[i]);
    m_invFreq = at::from_blob(inv.data(), {half}, at::TensorOptions().dtype(at::kFloat)).clone().to(m_device);  // [d/2]
  }

  struct Layer {
    at::Tensor inNorm, postNorm;
    Linear q, k, v, o, gate, up, down;
  };
  at::Device m_device;
  int64_t m_heads = 0, m_kvHeads = 0, m_headDim = 0;
  double m_eps = 1e-6;
  std::string m_act;
  at::Tensor m_embed, m_norm, m_lmHead, m_invFreq;
  std::vector<Layer> m_layers;
};

const RegisterModelFamily kRegistration({"llama", "text", "Llama decoder (LlamaForCausalLM, GQA, RoPE)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new LlamaFamily(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
