#include "graphs/BertEncoder.h"

#include <ATen/ops/embedding.h>

#include <cmath>

#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {

BertEncoderSizes bertSizes(const ModelConfig& cfg) {
  BertEncoderSizes s;
  s.hidden = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
  s.layers = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
  s.heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
  s.intermediate = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
  s.vocab = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
  s.positions = cfg.optIntIn("max_position_embeddings", 512, 1, kMaxPositions);
  s.typeVocab = cfg.optIntIn("type_vocab_size", 2, 1, 1024);
  s.eps = cfg.optDouble("layer_norm_eps", 1e-12);
  s.activation = cfg.optString("hidden_act", "gelu");
  checkActivation(s.activation, cfg.path());
  if (s.hidden % s.heads != 0)
    throw ConfigError("'" + cfg.path() + "': hidden_size " + std::to_string(s.hidden) +
                      " is not divisible by num_attention_heads " + std::to_string(s.heads));
  if (cfg.optString("position_embedding_type", "absolute") != "absolute")
    throw ConfigError("'" + cfg.path() + "': position_embedding_type '" +
                      cfg.optString("position_embedding_type", "") + "' is not supported (only 'absolute')");
  return s;
}

void BertEncoder::load(const std::string& p, const BertEncoderNames& n, const BertEncoderSizes& s, WeightStore& ws,
                       const at::TensorOptions& o) {
  m_sizes = s;
  const int64_t H = s.hidden;
  m_scale = 1.0 / std::sqrt(static_cast<double>(H / s.heads));
  m_word = ws.take(p + n.word + ".weight", {s.vocab, H}, o);
  m_position = ws.take(p + n.position + ".weight", {s.positions, H}, o);
  if (!n.tokenType.empty()) m_tokenType = ws.take(p + n.tokenType + ".weight", {s.typeVocab, H}, o);
  m_embNorm = takeLayerNorm(ws, p + n.embeddingNorm + ".weight", p + n.embeddingNorm + ".bias", H, s.eps, o);
  ws.ignore(p + "embeddings.position_ids");  // a buffer older checkpoints carry
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string b = p + n.layers + std::to_string(l) + ".";
    Layer layer;
    layer.q = takeLinear(ws, b + n.query, H, H, true, o);
    layer.k = takeLinear(ws, b + n.key, H, H, true, o);
    layer.v = takeLinear(ws, b + n.value, H, H, true, o);
    layer.out = takeLinear(ws, b + n.output, H, H, true, o);
    layer.attnNorm = takeLayerNorm(ws, b + n.attentionNorm + ".weight", b + n.attentionNorm + ".bias", H, s.eps, o);
    layer.up = takeLinear(ws, b + n.up, s.intermediate, H, true, o);
    layer.down = takeLinear(ws, b + n.down, H, s.intermediate, true, o);
    layer.ffnNorm = takeLayerNorm(ws, b + n.ffnNorm + ".weight", b + n.ffnNorm + ".bias", H, s.eps, o);
    m_layers.push_back(std::move(layer));
  }
}

at::Tensor BertEncoder::embed(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& types) const {
  at::Tensor h = at::embedding(m_word, ids) + at::embedding(m_position, positions);  // [T, H]
  if (m_tokenType.defined()) h = h + at::embedding(m_tokenType, types);             // [T, H]
  return m_embNorm(h);                                                               // [T, H]
}

at::Tensor BertEncoder::headWrites(int layer, const at::Tensor& headOutputs) const {
  return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).out.wt, headOutputs);  // [heads, T, H]
}

NormParameters BertEncoder::postNorm(int layer, ResidualPart part) const {
  const Layer& L = m_layers.at(static_cast<size_t>(layer));
  return postNormOf(part, L.attnNorm, L.ffnNorm);
}

at::Tensor BertEncoder::layers(at::Tensor h, const at::Tensor& padding, const ForwardOptions& options) const {
  const int64_t heads = m_sizes.heads;
  residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
  for (size_t l = 0; l < m_layers.size(); ++l) {
    const Layer& L = m_layers[l];
    AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
    call.scale = m_scale;
    call.keyPaddingMask = padding;
    const at::Tensor ctx = computeAttention(call, splitHeads(L.q(h), heads), splitHeads(L.k(h), heads),
                                            splitHeads(L.v(h), heads));  // [heads, T, d]
    const at::Tensor attn = L.out(mergeHeads(ctx));  // [T, H]
    residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
    h = L.attnNorm(attn + h);                                                        // [T, H]
    const at::Tensor mlp = L.down(applyActivation(m_sizes.activation, L.up(h)));     // [T, H]
    residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
    h = L.ffnNorm(mlp + h);                                                          // [T, H]
    layerDone(options, "self", static_cast<int>(l), h);
  }
  return h;
}

}  // namespace attnscope
