// BART (BartForConditionalGeneration, BartModel), HF model_type "bart".
// Learned positions at row t + 2 in both stacks, token embeddings × sqrt(d_model) when scale_embedding,
// layernorm_embedding after the embeddings, post-LN layers and no final stack norm, q scaled by head_dim^-0.5,
// logits = h · sharedᵀ + final_logits_bias. Three captured stacks (encoder, decoder, cross).
#include <ATen/ops/arange.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/linear.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

constexpr int64_t kPositionOffset = 2;  // BartLearnedPositionalEmbedding

class BartFamily : public Model {
 public:
  BartFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const std::string& path = cfg.path();
    const int64_t D = cfg.requireIntIn("d_model", 1, kMaxWidth);
    const int64_t encL = cfg.requireIntIn("encoder_layers", 1, kMaxLayers);
    const int64_t decL = cfg.requireIntIn("decoder_layers", 1, kMaxLayers);
    m_encHeads = cfg.requireIntIn("encoder_attention_heads", 1, kMaxHeads);
    m_decHeads = cfg.requireIntIn("decoder_attention_heads", 1, kMaxHeads);
    const int64_t encF = cfg.requireIntIn("encoder_ffn_dim", 1, kMaxWidth);
    const int64_t decF = cfg.requireIntIn("decoder_ffn_dim", 1, kMaxWidth);
    const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    m_positions = cfg.optIntIn("max_position_embeddings", 1024, 1, kMaxPositions);
    m_act = cfg.optString("activation_function", "gelu");
    checkActivation(m_act, path);
    if (D % m_encHeads != 0 || D % m_decHeads != 0)
      throw ConfigError("'" + path + "': d_model " + std::to_string(D) + " is not divisible by the attention heads");
    m_embedScale = cfg.optBool("scale_embedding", false) ? std::sqrt(static_cast<double>(D)) : 1.0;
    constexpr double eps = 1e-5;

    const std::string p = detectPrefix(ws, {"model.", ""}, "shared.weight");
    m_shared = ws.take(p + "shared.weight", {V, D}, o);
    for (const char* copy : {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}) ws.ignore(p + copy);
    auto attention = [&](const std::string& b) {
      return Attn{takeLinear(ws, b + "q_proj", D, D, true, o), takeLinear(ws, b + "k_proj", D, D, true, o),
                  takeLinear(ws, b + "v_proj", D, D, true, o), takeLinear(ws, b + "out_proj", D, D, true, o)};
    };
    auto norm = [&](const std::string& b) { return takeLayerNorm(ws, b + ".weight", b + ".bias", D, eps, o); };
    m_encPos = ws.take(p + "encoder.embed_positions.weight", {m_positions + kPositionOffset, D}, o);
    m_encEmbNorm = norm(p + "encoder.layernorm_embedding");
    for (int64_t l = 0; l < encL; ++l) {
      const std::string b = p + "encoder.layers." + std::to_string(l) + ".";
      Layer layer;
      layer.self = attention(b + "self_attn.");
      layer.selfNorm = norm(b + "self_attn_layer_norm");
      layer.fc1 = takeLinear(ws, b + "fc1", encF, D, true, o);
      layer.fc2 = takeLinear(ws, b + "fc2", D, encF, true, o);
      layer.ffnNorm = norm(b + "final_layer_norm");
      m_encoder.push_back(std::move(layer));
    }
    m_decPos = ws.take(p + "decoder.embed_positions.weight", {m_positions + kPositionOffset, D}, o);
    m_decEmbNorm = norm(p + "decoder.layernorm_embedding");
    for (int64_t l = 0; l < decL; ++l) {
      const std::string b = p + "decoder.layers." + std::to_string(l) + ".";
      Layer layer;
      layer.self = attention(b + "self_attn.");
      layer.selfNorm = norm(b + "self_attn_layer_norm");
      layer.cross = attention(b + "encoder_attn.");
      layer.crossNorm = norm(b + "encoder_attn_layer_norm");
      layer.fc1 = takeLinear(ws, b + "fc1", decF, D, true, o);
      layer.fc2 = takeLinear(ws, b + "fc2", D, decF, true, o);
      layer.ffnNorm = norm(b + "final_layer_norm");
      m_decoder.push_back(std::move(layer));
    }
    m_lmHead = ws.takeOptional("lm_head.weight", {V, D}, o);
    if (!m_lmHead.defined()) m_lmHead = m_shared;
    m_logitsBias = ws.takeOptional("final_logits_bias", {1, V}, o);

    m_info.modelType = "bart";
    m_info.architecture = "BartForConditionalGeneration";
    m_info.modality = "text";
    m_info.head = "lm";
    m_info.layers = static_cast<int>(std::max(encL, decL));
    m_info.heads = m_info.kvHeads = static_cast<int>(m_encHeads);
    m_info.hidden = static_cast<int>(D);
    m_info.vocab = static_cast<int>(V);
    m_info.maxPositions = static_cast<int>(m_positions);
    m_info.stacks = {"encoder", "decoder", "cross"};
    m_info.encoderDecoder = true;
    m_info.decoderPositions = static_cast<int>(m_positions);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask", "decoder_input_ids"}; }
  /// The logit lens reads the decoder (post-norm layers: no final norm): the LM head and final_logits_bias.
  std::string lensStack() const override { return "decoder"; }
  /// The encoder's residual stream (post-LN) is reported for ALTI and the information-flow graph.
  ResidualForm residualForm() const override { return ResidualForm::PostNorm; }
  NormParameters postNorm(int layer, ResidualPart part) const override {
    const Layer& L = m_encoder.at(static_cast<size_t>(layer));
    return postNormOf(part, L.selfNorm, L.ffnNorm);
  }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_encoder.at(static_cast<size_t>(layer)).self.out.wt, headOutputs);  // [heads, S, D]
  }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    at::Tensor logits = at::linear(hidden, m_lmHead);                 // [T, V]
    return m_logitsBias.defined() ? logits + m_logitsBias : logits;  // [T, V]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    TensorMap out;
    at::Tensor enc, encPadding;
    if (options.state && options.state->count("encoder_last_hidden_state")) {
      enc = options.state->at("encoder_last_hidden_state");
      if (options.state->count("encoder_padding")) encPadding = options.state->at("encoder_padding");
    } else {
      const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [S]
      checkLength(ids.size(0), m_positions, "input 'input_ids'");
      encPadding = keyPaddingMask(inputs, ids.size(0), m_device);
      enc = encode(ids, encPadding, options);  // [S, D]
      if (options.state) {
        (*options.state)["encoder_last_hidden_state"] = enc;
        if (encPadding.defined()) (*options.state)["encoder_padding"] = encPadding;
      }
    }
    out["encoder_last_hidden_state"] = enc;
    if (!inputs.count("decoder_input_ids"))
      throw InputError("BART needs a decoder side: give 'decoder_input_ids' (a target text, or the decoder start token "
                       "alone)");
    const at::Tensor dec = inputIds(inputs, "decoder_input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = dec.size(0), offset = options.positionOffset;
    checkLength(T + offset, m_positions, "input 'decoder_input_ids'");
    at::Tensor h = embed(dec, m_decPos, offset, m_decEmbNorm);  // [T, D]
    for (size_t l = 0; l < m_decoder.size(); ++l) {
      const Layer& L = m_decoder[l];
      const int li = static_cast<int>(l);
      AttentionCall self = attentionCall(options, "decoder", li);
      self.scale = 1.0 / std::sqrt(static_cast<double>(h.size(1) / m_decHeads));
      self.causal = true;
      self.cache = options.cache ? &(*options.cache)[l] : nullptr;
      h = L.selfNorm(h + L.self.out(mergeHeads(computeAttention(self, splitHeads(L.self.q(h), m_decHeads),
                                                                splitHeads(L.self.k(h), m_decHeads),
                                                                splitHeads(L.self.v(h), m_decHeads)))));  // [T, D]
      AttentionCall cross = attentionCall(options, "cross", li);
      cross.scale = self.scale;
      cross.queryOffset = offset;
      cross.keyPaddingMask = encPadding;
      const auto [ck, cv] = crossKeysValues(options, l, L.cross.k, L.cross.v, enc, m_decHeads);  // [heads, S, d]
      h = L.crossNorm(h + L.cross.out(mergeHeads(computeAttention(cross, splitHeads(L.cross.q(h), m_decHeads), ck,
                                                                  cv))));                   // [T, D]
      h = L.ffnNorm(h + L.fc2(applyActivation(m_act, L.fc1(h))));                            // [T, D]
      layerDone(options, "decoder", li, h);
    }
    out["last_hidden_state"] = h;  // [T, D]
    out["logits"] = outputHead(h);  // [T, V]
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

  at::Tensor embed(const at::Tensor& ids, const at::Tensor& positions, int64_t offset, const LayerNorm& norm) const {
    const at::Tensor rows = at::arange(offset, offset + ids.size(0), ids.options()) + kPositionOffset;  // [T]
    at::Tensor h = at::embedding(m_shared, ids);             // [T, D]
    if (m_embedScale != 1.0) h = h * m_embedScale;           // [T, D]
    return norm(h + at::embedding(positions, rows));         // [T, D]
  }

  at::Tensor encode(const at::Tensor& ids, const at::Tensor& padding, const ForwardOptions& options) const {
    at::Tensor h = embed(ids, m_encPos, 0, m_encEmbNorm);  // [S, D]
    residualWrite(options, "encoder", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_encoder.size(); ++l) {
      const Layer& L = m_encoder[l];
      AttentionCall call = attentionCall(options, "encoder", static_cast<int>(l));
      call.scale = 1.0 / std::sqrt(static_cast<double>(h.size(1) / m_encHeads));
      call.keyPaddingMask = padding;
      const at::Tensor attn = L.self.out(mergeHeads(computeAttention(call, splitHeads(L.self.q(h), m_encHeads),
                                                                     splitHeads(L.self.k(h), m_encHeads),
                                                                     splitHeads(L.self.v(h), m_encHeads))));  // [S, D]
      residualWrite(options, "encoder", static_cast<int>(l), ResidualPart::Attention, attn);
      h = L.selfNorm(h + attn);                                          // [S, D]
      const at::Tensor mlp = L.fc2(applyActivation(m_act, L.fc1(h)));    // [S, D]
      residualWrite(options, "encoder", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = L.ffnNorm(h + mlp);  // [S, D]
      layerDone(options, "encoder", static_cast<int>(l), h);
    }
    return h;  // [S, D]
  }

  at::Device m_device;
  int64_t m_encHeads = 0, m_decHeads = 0, m_positions = 1024;
  double m_embedScale = 1.0;
  std::string m_act;
  at::Tensor m_shared, m_encPos, m_decPos, m_lmHead, m_logitsBias;
  LayerNorm m_encEmbNorm, m_decEmbNorm;
  std::vector<Layer> m_encoder, m_decoder;
};

const RegisterModelFamily kRegistration({"bart", "text", "BART encoder-decoder (learned positions + 2, post-LN)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new BartFamily(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
