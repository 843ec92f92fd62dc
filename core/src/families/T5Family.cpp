// T5 (T5ForConditionalGeneration, T5Model), HF model_type "t5".
// Pre-norm RMS LayerNorm (no mean, no bias), attention without 1/sqrt(d) scaling, a relative position bias owned by
// block 0 of each stack and added in every layer of that stack (bidirectional buckets in the encoder, causal in the
// decoder, none in cross-attention), d_kv from config (heads·d_kv may differ from d_model), ReLU or gated-GELU (tanh)
// feed-forward, and a tied head that rescales the decoder output by d_model^-0.5 (an untied lm_head does not).
// Three captured stacks (encoder, decoder, cross); the bias of each stack is an output of its own
// (encoder_position_bias / decoder_position_bias, [heads, q, k]) so it can be shown beside the attention.
#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/clamp_max.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/log.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class T5Family : public Model {
 public:
  T5Family(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const std::string& path = cfg.path();
    const int64_t D = cfg.requireIntIn("d_model", 1, kMaxWidth);
    m_heads = cfg.requireIntIn("num_heads", 1, kMaxHeads);
    m_dkv = cfg.requireIntIn("d_kv", 1, kMaxWidth);
    const int64_t F = cfg.requireIntIn("d_ff", 1, kMaxWidth);
    const int64_t encL = cfg.requireIntIn("num_layers", 1, kMaxLayers);
    const int64_t decL = cfg.optIntIn("num_decoder_layers", encL, 1, kMaxLayers);
    const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    // Buckets: at least 4 (two directions, each with an exact half); the log-spaced range must start below the
    // maximum distance.
    m_buckets = cfg.optIntIn("relative_attention_num_buckets", 32, 4, 1 << 16);
    m_maxDistance = cfg.optIntIn("relative_attention_max_distance", 128, m_buckets / 2 + 1, kMaxPositions);
    m_eps = cfg.optDouble("layer_norm_epsilon", 1e-6);
    m_decoderStart = cfg.optIntIn("decoder_start_token_id", 0, 0, V - 1);
    std::string proj = cfg.optString("feed_forward_proj", "relu");
    m_gated = proj.rfind("gated-", 0) == 0;
    m_act = m_gated ? proj.substr(6) : proj;
    if (proj == "gated-gelu") m_act = "gelu_new";  // HF: gated-gelu is the tanh approximation
    checkActivation(m_act, path);
    const int64_t inner = m_heads * m_dkv;

    m_shared = ws.take("shared.weight", {V, D}, o);
    for (const char* copy : {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}) ws.ignore(copy);
    auto attention = [&](const std::string& b) {
      return Attn{takeLinear(ws, b + "q", inner, D, false, o), takeLinear(ws, b + "k", inner, D, false, o),
                  takeLinear(ws, b + "v", inner, D, false, o), takeLinear(ws, b + "o", D, inner, false, o)};
    };
    auto ffn = [&](const std::string& b, Layer& layer) {
      if (m_gated) {
        layer.wi0 = takeLinear(ws, b + "DenseReluDense.wi_0", F, D, false, o);
        layer.wi1 = takeLinear(ws, b + "DenseReluDense.wi_1", F, D, false, o);
      } else {
        layer.wi0 = takeLinear(ws, b + "DenseReluDense.wi", F, D, false, o);
      }
      layer.wo = takeLinear(ws, b + "DenseReluDense.wo", D, F, false, o);
      layer.ffnNorm = ws.take(b + "layer_norm.weight", {D}, o);
    };
    for (int64_t l = 0; l < encL; ++l) {
      const std::string b = "encoder.block." + std::to_string(l) + ".layer.";
      Layer layer;
      layer.self = attention(b + "0.SelfAttention.");
      layer.selfNorm = ws.take(b + "0.layer_norm.weight", {D}, o);
      ffn(b + "1.", layer);
      m_encoder.push_back(std::move(layer));
    }
    m_encBias = ws.take("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {m_buckets, m_heads}, o);
    m_encNorm = ws.take("encoder.final_layer_norm.weight", {D}, o);
    for (int64_t l = 0; l < decL; ++l) {
      const std::string b = "decoder.block." + std::to_string(l) + ".layer.";
      Layer layer;
      layer.self = attention(b + "0.SelfAttention.");
      layer.selfNorm = ws.take(b + "0.layer_norm.weight", {D}, o);
      layer.cross = attention(b + "1.EncDecAttention.");
      layer.crossNorm = ws.take(b + "1.layer_norm.weight", {D}, o);
      ffn(b + "2.", layer);
      m_decoder.push_back(std::move(layer));
    }
    m_decBias = ws.take("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {m_buckets, m_heads}, o);
    m_decNorm = ws.take("decoder.final_layer_norm.weight", {D}, o);
    const bool tied = cfg.optBool("tie_word_embeddings", true);
    m_lmHead = tied ? ws.takeOptional("lm_head.weight", {V, D}, o) : ws.take("lm_head.weight", {V, D}, o);
    if (!m_lmHead.defined()) m_lmHead = m_shared;
    m_outScale = tied ? 1.0 / std::sqrt(static_cast<double>(D)) : 1.0;

    m_info.modelType = "t5";
    m_info.architecture = "T5ForConditionalGeneration";
    m_info.modality = "text";
    m_info.head = "lm";
    m_info.layers = static_cast<int>(std::max(encL, decL));
    m_info.heads = m_info.kvHeads = static_cast<int>(m_heads);
    m_info.hidden = static_cast<int>(D);
    m_info.vocab = static_cast<int>(V);
    m_info.maxPositions = 0;  // relative positions: no fixed limit
    m_info.stacks = {"encoder", "decoder", "cross"};
    m_info.encoderDecoder = true;
    m_info.decoderPositions = 0;
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask", "decoder_input_ids"}; }
  /// The logit lens reads the decoder: its final norm, the tied head's d_model^-0.5, the LM head.
  std::string lensStack() const override { return "decoder"; }
  /// The encoder's residual stream (pre-RMSNorm) is reported for ALTI and the information-flow graph.
  ResidualForm residualForm() const override { return ResidualForm::PreNorm; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_encoder.at(static_cast<size_t>(layer)).self.o.wt, headOutputs);  // [heads, S, D]
  }
  /// The decoder's residual stream (pre-RMSNorm: embeddings + self-attention + cross-attention + feed-forward
  /// writes) is reported for direct logit attribution.
  bool hasDirectAttribution() const override { return true; }
  at::Tensor lensHeadWrites(const AttentionSite& site, const at::Tensor& headOutputs) const override {
    if (site.layer < 0 || site.layer >= static_cast<int>(m_decoder.size())) return at::Tensor();
    const Layer& L = m_decoder[static_cast<size_t>(site.layer)];
    if (site.stack == "decoder") return headWritesThrough(L.self.o.wt, headOutputs);  // [heads, T, D]
    if (site.stack == "cross") return headWritesThrough(L.cross.o.wt, headOutputs);   // [heads, T, D]
    return at::Tensor();
  }
  /// The final RMS norm frozen at the residual; the tied head's d_model^-0.5 is part of the norm's weight.
  at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                              double* constant) const override {
    return frozenRmsNormHead(parts, residual, m_eps, m_decNorm * m_outScale, m_lmHead, target, constant);  // [N]
  }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    return at::linear(rms(hidden, m_decNorm) * m_outScale, m_lmHead);  // [T, V]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    TensorMap out;
    at::Tensor enc, encPadding;
    if (options.state && options.state->count("encoder_last_hidden_state")) {
      enc = options.state->at("encoder_last_hidden_state");  // [S, D] from the first step
      if (options.state->count("encoder_padding")) encPadding = options.state->at("encoder_padding");
    } else {
      const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [S]
      checkLength(ids.size(0), 0, "input 'input_ids'");
      encPadding = keyPaddingMask(inputs, ids.size(0), m_device);
      enc = encode(ids, encPadding, options, out);  // [S, D]
      if (options.state) {
        (*options.state)["encoder_last_hidden_state"] = enc;
        if (encPadding.defined()) (*options.state)["encoder_padding"] = encPadding;
      }
    }
    out["encoder_last_hidden_state"] = enc;
    if (!inputs.count("decoder_input_ids"))
      throw InputError("T5 needs a decoder side: give 'decoder_input_ids' (a target text, or the decoder start token " +
                       std::to_string(m_decoderStart) + " alone)");
    const at::Tensor dec = inputIds(inputs, "decoder_input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = dec.size(0), offset = options.positionOffset;
    checkLength(T, 0, "input 'decoder_input_ids'");
    const at::Tensor selfBias = positionBias(m_decBias, offset, T, offset + T, false);  // [heads, T, offset+T]
    out["decoder_position_bias"] = selfBias.narrow(2, offset, T);
    at::Tensor h = at::embedding(m_shared, dec);  // [T, D]
    residualWrite(options, "decoder", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_decoder.size(); ++l) {
      const Layer& L = m_decoder[l];
      const int li = static_cast<int>(l);
      AttentionCall self = attentionCall(options, "decoder", li);
      self.scale = 1.0;
      self.causal = true;
      self.bias = selfBias;
      self.cache = options.cache ? &(*options.cache)[l] : nullptr;
      const at::Tensor x = rms(h, L.selfNorm);  // [T, D]
      const at::Tensor attn = L.self.o(mergeHeads(computeAttention(self, splitHeads(L.self.q(x), m_heads),
                                                                   splitHeads(L.self.k(x), m_heads),
                                                                   splitHeads(L.self.v(x), m_heads))));  // [T, D]
      residualWrite(options, "decoder", li, ResidualPart::Attention, attn);
      h = h + attn;  // [T, D]
      AttentionCall cross = attentionCall(options, "cross", li);
      cross.scale = 1.0;
      cross.queryOffset = offset;
      cross.keyPaddingMask = encPadding;
      const auto [ck, cv] = crossKeysValues(options, l, L.cross.k, L.cross.v, enc, m_heads);  // [heads, S, d]
      const at::Tensor y = rms(h, L.crossNorm);                                                 // [T, D]
      const at::Tensor read =
          L.cross.o(mergeHeads(computeAttention(cross, splitHeads(L.cross.q(y), m_heads), ck, cv)));  // [T, D]
      residualWrite(options, "decoder", li, ResidualPart::CrossAttention, read);
      h = h + read;                                                // [T, D]
      const at::Tensor mlp = feedForward(L, rms(h, L.ffnNorm));  // [T, D]
      residualWrite(options, "decoder", li, ResidualPart::Mlp, mlp);
      h = h + mlp;  // [T, D]
      layerDone(options, "decoder", li, h);
    }
    out["last_hidden_state"] = rms(h, m_decNorm);  // [T, D]
    out["logits"] = outputHead(h);                   // [T, V]
    return out;
  }

 private:
  struct Attn {
    Linear q, k, v, o;
  };
  struct Layer {
    Attn self, cross;
    at::Tensor selfNorm, crossNorm, ffnNorm;
    Linear wi0, wi1, wo;
  };

  /// T5LayerNorm: x · rsqrt(mean(x²) + eps) · w, the variance in float32.
  at::Tensor rms(const at::Tensor& x, const at::Tensor& w) const {
    const at::Tensor x32 = x.to(at::kFloat);                                          // [T, D]
    return (x32 * at::rsqrt(x32.pow(2).mean(-1, true) + m_eps)).to(x.scalar_type()) * w;  // [T, D]
  }

  at::Tensor feedForward(const Layer& L, const at::Tensor& x) const {
    if (m_gated) return L.wo(applyActivation(m_act, L.wi0(x)) * L.wi1(x));  // [T, D]
    return L.wo(applyActivation(m_act, L.wi0(x)));                          // [T, D]
  }

  /// HF's _relative_position_bucket of (key - query) positions, computed with the same float32 operations.
  at::Tensor buckets(const at::Tensor& relative, bool bidirectional) const {
    int64_t n = m_buckets;
    at::Tensor out = at::zeros_like(relative);  // [q, k]
    at::Tensor rp = relative;
    if (bidirectional) {
      n /= 2;
      out = out + relative.gt(0).to(at::kLong) * n;  // [q, k]
      rp = at::abs(relative);
    } else {
      rp = -at::clamp_max(relative, 0);  // [q, k]
    }
    const int64_t maxExact = n / 2;
    const at::Tensor small = rp.lt(maxExact);  // [q, k]
    at::Tensor large = (at::log(rp.to(at::kFloat) / static_cast<double>(maxExact)) /
                        std::log(static_cast<double>(m_maxDistance) / static_cast<double>(maxExact)) *
                        static_cast<double>(n - maxExact))
                           .to(at::kLong) +
                       maxExact;                    // [q, k]
    large = at::clamp_max(large, n - 1);            // [q, k]
    return out + at::where(small, rp, large);       // [q, k]
  }

  /// [heads, qLen, kLen] bias for queries at positions qStart.. and keys at 0..kLen-1.
  at::Tensor positionBias(const at::Tensor& table, int64_t qStart, int64_t qLen, int64_t kLen,
                          bool bidirectional) const {
    const auto lo = at::TensorOptions().dtype(at::kLong).device(m_device);
    const at::Tensor q = at::arange(qStart, qStart + qLen, lo).unsqueeze(1);  // [q, 1]
    const at::Tensor k = at::arange(0, kLen, lo).unsqueeze(0);                // [1, k]
    const at::Tensor values = at::embedding(table, buckets(k - q, bidirectional));  // [q, k, heads]
    return values.permute({2, 0, 1}).contiguous().to(at::kFloat);                  // [heads, q, k]
  }

  at::Tensor encode(const at::Tensor& ids, const at::Tensor& padding, const ForwardOptions& options,
                    TensorMap& out) const {
    const int64_t S = ids.size(0);
    const at::Tensor bias = positionBias(m_encBias, 0, S, S, true);  // [heads, S, S]
    out["encoder_position_bias"] = bias;
    at::Tensor h = at::embedding(m_shared, ids);  // [S, D]
    residualWrite(options, "encoder", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_encoder.size(); ++l) {
      const Layer& L = m_encoder[l];
      AttentionCall call = attentionCall(options, "encoder", static_cast<int>(l));
      call.scale = 1.0;
      call.bias = bias;
      call.keyPaddingMask = padding;
      const at::Tensor x = rms(h, L.selfNorm);  // [S, D]
      const at::Tensor attn = L.self.o(mergeHeads(computeAttention(call, splitHeads(L.self.q(x), m_heads),
                                                                   splitHeads(L.self.k(x), m_heads),
                                                                   splitHeads(L.self.v(x), m_heads))));  // [S, D]
      residualWrite(options, "encoder", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;                                               // [S, D]
      const at::Tensor mlp = feedForward(L, rms(h, L.ffnNorm));  // [S, D]
      residualWrite(options, "encoder", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = h + mlp;  // [S, D]
      layerDone(options, "encoder", static_cast<int>(l), h);
    }
    return rms(h, m_encNorm);  // [S, D]
  }

  at::Device m_device;
  int64_t m_heads = 0, m_dkv = 0, m_buckets = 32, m_maxDistance = 128, m_decoderStart = 0;
  double m_eps = 1e-6, m_outScale = 1.0;
  bool m_gated = false;
  std::string m_act;
  at::Tensor m_shared, m_encBias, m_decBias, m_encNorm, m_decNorm, m_lmHead;
  std::vector<Layer> m_encoder, m_decoder;
};

const RegisterModelFamily kRegistration({"t5", "text", "T5 encoder-decoder (relative position bias, RMS norm)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new T5Family(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
