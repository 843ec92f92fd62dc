// Whisper (WhisperForConditionalGeneration, WhisperModel), HF model_type "whisper". Encoder–decoder:
// encoder stem GELU(conv1) -> GELU(conv2, stride 2) -> + sinusoidal positions (stored), pre-LN self-attention
// layers, final layer_norm; decoder: token + learned positions, pre-LN causal self-attention, cross-attention
// to the encoder output, FFN, final layer_norm; logits from the tied embed_tokens (or proj_out).
// Attention: q scaled by head_dim^-0.5 (HF), k_proj without bias. Three captured stacks: encoder, decoder, cross.
#include <ATen/ops/arange.h>
#include <ATen/ops/conv1d.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/linear.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class WhisperFamily : public Model {
 public:
  WhisperFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_options(o) {
    const int64_t D = cfg.requireIntIn("d_model", 1, kMaxWidth);
    const int64_t encL = cfg.requireIntIn("encoder_layers", 1, kMaxLayers), decL = cfg.requireIntIn("decoder_layers", 1, kMaxLayers);
    m_encHeads = cfg.requireIntIn("encoder_attention_heads", 1, kMaxHeads);
    m_decHeads = cfg.requireIntIn("decoder_attention_heads", 1, kMaxHeads);
    const int64_t encF = cfg.requireIntIn("encoder_ffn_dim", 1, kMaxWidth), decF = cfg.requireIntIn("decoder_ffn_dim", 1, kMaxWidth);
    m_mels = cfg.optIntIn("num_mel_bins", 80, 1, 1024);
    m_sourcePositions = cfg.requireIntIn("max_source_positions", 1, kMaxPositions);
    m_targetPositions = cfg.requireIntIn("max_target_positions", 1, kMaxPositions);
    const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    m_act = cfg.optString("activation_function", "gelu");
    checkActivation(m_act, cfg.path());
    if (D % m_encHeads || D % m_decHeads)
      throw ConfigError("'" + cfg.path() + "': d_model " + std::to_string(D) + " is not divisible by the head counts");
    m_embedScale = cfg.optBool("scale_embedding", false) ? std::sqrt(static_cast<double>(D)) : 1.0;
    const double eps = 1e-5;
    const std::string p = detectPrefix(ws, {"model.", ""}, "encoder.conv1.weight");
    m_conv1W = ws.take(p + "encoder.conv1.weight", {D, m_mels, 3}, o);
    m_conv1B = ws.take(p + "encoder.conv1.bias", {D}, o);
    m_conv2W = ws.take(p + "encoder.conv2.weight", {D, D, 3}, o);
    m_conv2B = ws.take(p + "encoder.conv2.bias", {D}, o);
    m_encPos = ws.take(p + "encoder.embed_positions.weight", {m_sourcePositions, D}, o);  // [S, D]
    auto attn = [&](const std::string& b) {
      Attn a;
      a.q = takeLinear(ws, b + "q_proj", D, D, true, o);
      a.k = takeLinear(ws, b + "k_proj", D, D, false, o);
      a.v = takeLinear(ws, b + "v_proj", D, D, true, o);
      a.out = takeLinear(ws, b + "out_proj", D, D, true, o);
      return a;
    };
    for (int64_t l = 0; l < encL; ++l) {
      const std::string b = p + "encoder.layers." + std::to_string(l) + ".";
      Layer layer;
      layer.self = attn(b + "self_attn.");
      layer.selfNorm = takeLayerNorm(ws, b + "self_attn_layer_norm.weight", b + "self_attn_layer_norm.bias", D, eps, o);
      layer.fc1 = takeLinear(ws, b + "fc1", encF, D, true, o);
      layer.fc2 = takeLinear(ws, b + "fc2", D, encF, true, o);
      layer.ffnNorm = takeLayerNorm(ws, b + "final_layer_norm.weight", b + "final_layer_norm.bias", D, eps, o);
      m_encoder.push_back(std::move(layer));
    }
    m_encNorm = takeLayerNorm(ws, p + "encoder.layer_norm.weight", p + "encoder.layer_norm.bias", D, eps, o);
    m_tokens = ws.take(p + "decoder.embed_tokens.weight", {V, D}, o);             // [V, D]
    m_decPos = ws.take(p + "decoder.embed_positions.weight", {m_targetPositions, D}, o);  // [P, D]
    for (int64_t l = 0; l < decL; ++l) {
      const std::string b = p + "decoder.layers." + std::to_string(l) + ".";
      Layer layer;
      layer.self = attn(b + "self_attn.");
      layer.selfNorm = takeLayerNorm(ws, b + "self_attn_layer_norm.weight", b + "self_attn_layer_norm.bias", D, eps, o);
      layer.cross = attn(b + "encoder_attn.");
      layer.crossNorm =
          takeLayerNorm(ws, b + "encoder_attn_layer_norm.weight", b + "encoder_attn_layer_norm.bias", D, eps, o);
      layer.fc1 = takeLinear(ws, b + "fc1", decF, D, true, o);
      layer.fc2 = takeLinear(ws, b + "fc2", D, decF, true, o);
      layer.ffnNorm = takeLayerNorm(ws, b + "final_layer_norm.weight", b + "final_layer_norm.bias", D, eps, o);
      m_decoder.push_back(std::move(layer));
    }
    m_decNorm = takeLayerNorm(ws, p + "decoder.layer_norm.weight", p + "decoder.layer_norm.bias", D, eps, o);
    m_projOut = ws.takeOptional("proj_out.weight", {V, D}, o);
    m_info.head = "lm";
    m_info.architecture = "WhisperForConditionalGeneration";
    if (!m_projOut.defined()) m_projOut = m_tokens;  // tied
    m_info.modelType = "whisper";
    m_info.modality = "audio";
    m_info.layers = static_cast<int>(std::max(encL, decL));
    m_info.heads = m_info.kvHeads = static_cast<int>(m_encHeads);
    m_info.hidden = static_cast<int>(D);
    m_info.vocab = static_cast<int>(V);
    m_info.maxPositions = static_cast<int>(m_sourcePositions);
    m_info.stacks = {"encoder", "decoder", "cross"};
    m_info.sampleRate = 16000;
    m_info.windowSeconds = 2.0 * m_sourcePositions * 160 / 16000.0;
    m_info.secondsPerPosition = 2.0 * 160 / 16000.0;  // conv2 has stride 2 over 10 ms frames
    m_info.audioInput = "input_features";
    m_info.encoderDecoder = true;
    m_info.decoderPositions = static_cast<int>(m_targetPositions);
    m_encLayers = encL;
  }

  std::vector<std::string> inputNames() const override { return {"input_features", "decoder_input_ids"}; }
  /// The logit lens reads the decoder: its final layer_norm, then proj_out (tied to the token embeddings).
  std::string lensStack() const override { return "decoder"; }
  /// The encoder's residual stream (pre-LN) is reported for ALTI and the information-flow graph.
  ResidualForm residualForm() const override { return ResidualForm::PreNorm; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_encoder.at(static_cast<size_t>(layer)).self.out.wt, headOutputs);  // [heads, S, D]
  }
  /// The decoder's residual stream (pre-LN: embeddings + self-attention + cross-attention + feed-forward writes) is
  /// reported for direct logit attribution.
  bool hasDirectAttribution() const override { return true; }
  at::Tensor lensHeadWrites(const AttentionSite& site, const at::Tensor& headOutputs) const override {
    if (site.layer < 0 || site.layer >= static_cast<int>(m_decoder.size())) return at::Tensor();
    const Layer& L = m_decoder[static_cast<size_t>(site.layer)];
    if (site.stack == "decoder") return headWritesThrough(L.self.out.wt, headOutputs);  // [heads, T, D]
    if (site.stack == "cross") return headWritesThrough(L.cross.out.wt, headOutputs);   // [heads, T, D]
    return at::Tensor();
  }
  /// The decoder's final LayerNorm with σ frozen at the residual, then proj_out (no bias).
  at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                              double* constant) const override {
    return frozenLayerNormHead(parts, residual, &m_decNorm, at::Tensor(), m_projOut, at::Tensor(), target,
                               constant);  // [N]
  }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    return at::linear(m_decNorm(hidden), m_projOut);  // [T, V]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    TensorMap out;
    at::Tensor enc;
    if (options.state && options.state->count("encoder_last_hidden_state")) {
      enc = options.state->at("encoder_last_hidden_state");  // [S, D] from the first step
    } else {
      enc = encode(inputs, options);  // [S, D]
      if (options.state) (*options.state)["encoder_last_hidden_state"] = enc;
    }
    out["encoder_last_hidden_state"] = enc;
    const at::Tensor ids = inputIds(inputs, "decoder_input_ids", m_info.vocab, m_options.device());  // [T]
    const int64_t T = ids.size(0), offset = options.positionOffset;
    checkLength(T + offset, m_targetPositions, "input 'decoder_input_ids'");
    at::Tensor h = at::embedding(m_tokens, ids) * m_embedScale + m_decPos.narrow(0, offset, T);  // [T, D]
    residualWrite(options, "decoder", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_decoder.size(); ++l) {
      const Layer& L = m_decoder[l];
      const int li = static_cast<int>(l);
      AttentionCall self = attentionCall(options, "decoder", li);
      self.scale = 1.0 / std::sqrt(static_cast<double>(h.size(1) / m_decHeads));
      self.causal = true;
      self.cache = options.cache ? &(*options.cache)[l] : nullptr;
      const at::Tensor x = L.selfNorm(h);  // [T, D]
      const at::Tensor attn = L.self.out(mergeHeads(computeAttention(self, splitHeads(L.self.q(x), m_decHeads),
                                                                     splitHeads(L.self.k(x), m_decHeads),
                                                                     splitHeads(L.self.v(x), m_decHeads))));  // [T, D]
      residualWrite(options, "decoder", li, ResidualPart::Attention, attn);
      h = h + attn;  // [T, D]
      AttentionCall cross = attentionCall(options, "cross", li);
      cross.scale = self.scale;
      cross.queryOffset = offset;
      const at::Tensor y = L.crossNorm(h);  // [T, D]
      const auto [ck, cv] = crossKeysValues(options, l, L.cross.k, L.cross.v, enc, m_decHeads);  // [heads, S, d]
      const at::Tensor read =
          L.cross.out(mergeHeads(computeAttention(cross, splitHeads(L.cross.q(y), m_decHeads), ck, cv)));  // [T, D]
      residualWrite(options, "decoder", li, ResidualPart::CrossAttention, read);
      h = h + read;                                                                 // [T, D]
      const at::Tensor mlp = L.fc2(applyActivation(m_act, L.fc1(L.ffnNorm(h))));  // [T, D]
      residualWrite(options, "decoder", li, ResidualPart::Mlp, mlp);
      h = h + mlp;  // [T, D]
      layerDone(options, "decoder", li, h);
    }
    out["last_hidden_state"] = m_decNorm(h);  // [T, D]
    out["logits"] = outputHead(h);              // [T, V]
    return out;
  }

 private:
  struct Attn {
    Linear q, k, v, out;
  };
  struct Layer {
    Attn self, cross;
    LayerNorm selfNorm, crossNorm, ffnNorm;
    Linear fc1, fc2;
  };

  at::Tensor encode(const TensorMap& inputs, const ForwardOptions& options) const {
    const at::Tensor feats =
        floatInput(inputs, "input_features", {m_mels, 2 * m_sourcePositions}, m_options).unsqueeze(0);  // [1, mels, 2S]
    at::Tensor x = at::gelu(at::conv1d(feats, m_conv1W, m_conv1B, {1}, {1}));     // [1, D, 2S]
    x = at::gelu(at::conv1d(x, m_conv2W, m_conv2B, {2}, {1}))[0].t() + m_encPos;  // [S, D]
    residualWrite(options, "encoder", 0, ResidualPart::Embeddings, x);
    for (size_t l = 0; l < m_encoder.size(); ++l) {
      const Layer& L = m_encoder[l];
      AttentionCall call = attentionCall(options, "encoder", static_cast<int>(l));
      call.scale = 1.0 / std::sqrt(static_cast<double>(x.size(1) / m_encHeads));
      const at::Tensor y = L.selfNorm(x);  // [S, D]
      const at::Tensor attn = L.self.out(mergeHeads(computeAttention(call, splitHeads(L.self.q(y), m_encHeads),
                                                                     splitHeads(L.self.k(y), m_encHeads),
                                                                     splitHeads(L.self.v(y), m_encHeads))));  // [S, D]
      residualWrite(options, "encoder", static_cast<int>(l), ResidualPart::Attention, attn);
      x = x + attn;                                                                  // [S, D]
      const at::Tensor mlp = L.fc2(applyActivation(m_act, L.fc1(L.ffnNorm(x))));    // [S, D]
      residualWrite(options, "encoder", static_cast<int>(l), ResidualPart::Mlp, mlp);
      x = x + mlp;  // [S, D]
      layerDone(options, "encoder", static_cast<int>(l), x);
    }
    return m_encNorm(x);  // [S, D]
  }

  at::TensorOptions m_options;
  int64_t m_encHeads = 0, m_decHeads = 0, m_mels = 80, m_sourcePositions = 0, m_targetPositions = 0, m_encLayers = 0;
  double m_embedScale = 1.0;
  std::string m_act;
  at::Tensor m_conv1W, m_conv1B, m_conv2W, m_conv2B, m_encPos, m_tokens, m_decPos, m_projOut;
  std::vector<Layer> m_encoder, m_decoder;
  LayerNorm m_encNorm, m_decNorm;
};

const RegisterModelFamily kRegistration({"whisper", "audio",
                                         "Whisper encoder-decoder (WhisperForConditionalGeneration; encoder, decoder "
                                         "and cross-attention)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::make_unique<WhisperFamily>(c, w, o);
                                         }});

}  // namespace
}  // namespace attnscope
