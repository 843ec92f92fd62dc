// BERT (BertModel, BertForSequenceClassification, BertForMaskedLM), HF model_type "bert".
// Post-LN encoder: h = LN(h + Attn(h)); h = LN(h + FFN(h)).
#include <ATen/ops/arange.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/tanh.h>
#include <ATen/ops/zeros.h>

#include <cmath>

#include "FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class BertFamily : public Model {
 public:
  BertFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const int64_t H = cfg.requireInt("hidden_size");
    const int64_t L = cfg.requireInt("num_hidden_layers");
    m_heads = cfg.requireInt("num_attention_heads");
    const int64_t I = cfg.requireInt("intermediate_size");
    const int64_t V = cfg.requireInt("vocab_size");
    const int64_t P = cfg.optInt("max_position_embeddings", 512);
    const int64_t TV = cfg.optInt("type_vocab_size", 2);
    const double eps = cfg.optDouble("layer_norm_eps", 1e-12);
    m_act = cfg.optString("hidden_act", "gelu");
    checkActivation(m_act, cfg.path());
    if (H % m_heads != 0)
      throw ConfigError("'" + cfg.path() + "': hidden_size " + std::to_string(H) +
                        " is not divisible by num_attention_heads " + std::to_string(m_heads));
    if (cfg.optString("position_embedding_type", "absolute") != "absolute")
      throw ConfigError("'" + cfg.path() + "': position_embedding_type '" +
                        cfg.optString("position_embedding_type", "") + "' is not supported (only 'absolute')");
    m_scale = 1.0 / std::sqrt(static_cast<double>(H / m_heads));
    m_typeVocab = TV;

    const std::string p = detectPrefix(ws, {"bert.", ""}, "embeddings.word_embeddings.weight");
    m_word = ws.take(p + "embeddings.word_embeddings.weight", {V, H}, o);
    m_position = ws.take(p + "embeddings.position_embeddings.weight", {P, H}, o);
    m_tokenType = ws.take(p + "embeddings.token_type_embeddings.weight", {TV, H}, o);
    m_embNorm = takeLayerNorm(ws, p + "embeddings.LayerNorm.weight", p + "embeddings.LayerNorm.bias", H, eps, o);
    ws.ignore(p + "embeddings.position_ids");
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "encoder.layer." + std::to_string(l) + ".";
      Layer layer;
      layer.q = takeLinear(ws, b + "attention.self.query", H, H, true, o);
      layer.k = takeLinear(ws, b + "attention.self.key", H, H, true, o);
      layer.v = takeLinear(ws, b + "attention.self.value", H, H, true, o);
      layer.out = takeLinear(ws, b + "attention.output.dense", H, H, true, o);
      layer.attnNorm = takeLayerNorm(ws, b + "attention.output.LayerNorm.weight", b + "attention.output.LayerNorm.bias",
                                     H, eps, o);
      layer.up = takeLinear(ws, b + "intermediate.dense", I, H, true, o);
      layer.down = takeLinear(ws, b + "output.dense", H, I, true, o);
      layer.ffnNorm = takeLayerNorm(ws, b + "output.LayerNorm.weight", b + "output.LayerNorm.bias", H, eps, o);
      m_layers.push_back(std::move(layer));
    }
    const std::string arch = cfg.architecture();
    const bool wantsPooler = ws.has(p + "pooler.dense.weight");
    if (wantsPooler) m_pooler = takeLinear(ws, p + "pooler.dense", H, H, true, o);
    m_info.head = "none";
    m_info.architecture = "BertModel";
    if (ws.has("classifier.weight")) {
      const auto labels = cfg.id2label();
      const int64_t n = labels.empty() ? cfg.optInt("num_labels", 2) : static_cast<int64_t>(labels.size());
      m_classifier = takeLinear(ws, "classifier", n, H, true, o);
      // The classifier reads the pooler: without it this records a missing tensor.
      if (!wantsPooler) m_pooler = takeLinear(ws, p + "pooler.dense", H, H, true, o);
      m_info.head = "classifier";
      m_info.architecture = "BertForSequenceClassification";
      m_info.labels = classLabels(labels, n);
    } else if (ws.has("cls.predictions.transform.dense.weight")) {
      m_mlmDense = takeLinear(ws, "cls.predictions.transform.dense", H, H, true, o);
      m_mlmNorm = takeLayerNorm(ws, "cls.predictions.transform.LayerNorm.weight",
                                "cls.predictions.transform.LayerNorm.bias", H, eps, o);
      m_mlmDecoder = ws.takeOptional("cls.predictions.decoder.weight", {V, H}, o);
      if (!m_mlmDecoder.defined()) m_mlmDecoder = m_word;  // tied to the word embeddings
      m_mlmBias = ws.take("cls.predictions.bias", {V}, o);
      ws.ignore("cls.predictions.decoder.bias");
      ws.ignore("cls.seq_relationship.weight");
      ws.ignore("cls.seq_relationship.bias");
      m_info.head = "mlm";
      m_info.architecture = "BertForMaskedLM";
    }
    m_info.modelType = "bert";
    m_info.modality = "text";
    m_info.layers = static_cast<int>(L);
    m_info.heads = m_info.kvHeads = static_cast<int>(m_heads);
    m_info.hidden = static_cast<int>(H);
    m_info.vocab = static_cast<int>(V);
    m_info.maxPositions = static_cast<int>(P);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "token_type_ids", "attention_mask"}; }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T, m_info.maxPositions, "input 'input_ids'");
    at::Tensor types = inputIds(inputs, "token_type_ids", m_typeVocab, m_device, false);  // [T]
    if (!types.defined()) types = at::zeros({T}, ids.options());                          // [T]
    if (types.size(0) != T) throw InputError("input 'token_type_ids' must have the length of 'input_ids'");
    const at::Tensor padding = keyPaddingMask(inputs, T, m_device);  // [T] bool or undefined
    const at::Tensor positions = at::arange(T, ids.options());       // [T]
    at::Tensor h = at::embedding(m_word, ids) + at::embedding(m_position, positions) +
                   at::embedding(m_tokenType, types);  // [T, H]
    h = m_embNorm(h);                                  // [T, H]
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = m_scale;
      call.keyPaddingMask = padding;
      const at::Tensor ctx = computeAttention(call, splitHeads(L.q(h), m_heads), splitHeads(L.k(h), m_heads),
                                              splitHeads(L.v(h), m_heads));  // [heads, T, d]
      h = L.attnNorm(L.out(mergeHeads(ctx)) + h);                           // [T, H]
      h = L.ffnNorm(L.down(applyActivation(m_act, L.up(h))) + h);          // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    TensorMap out;
    out["last_hidden_state"] = h;  // [T, H]
    if (m_pooler.wt.defined()) {
      const at::Tensor pooled = at::tanh(m_pooler(h.narrow(0, 0, 1)))[0];  // [H]
      out["pooler_output"] = pooled;
      if (m_classifier.wt.defined()) out["logits"] = m_classifier(pooled.unsqueeze(0))[0];  // [labels]
    }
    if (m_mlmDense.wt.defined()) {
      const at::Tensor t = m_mlmNorm(applyActivation(m_act, m_mlmDense(h)));  // [T, H]
      out["logits"] = at::linear(t, m_mlmDecoder, m_mlmBias);               // [T, V]
    }
    return out;
  }

 private:
  struct Layer {
    Linear q, k, v, out, up, down;
    LayerNorm attnNorm, ffnNorm;
  };
  at::Device m_device;
  int64_t m_heads = 0, m_typeVocab = 2;
  double m_scale = 1.0;
  std::string m_act;
  at::Tensor m_word, m_position, m_tokenType;
  LayerNorm m_embNorm;
  std::vector<Layer> m_layers;
  Linear m_pooler, m_classifier, m_mlmDense;
  LayerNorm m_mlmNorm;
  at::Tensor m_mlmDecoder, m_mlmBias;
};

const RegisterModelFamily kRegistration({"bert", "text", "BERT encoder (BertModel / ForSequenceClassification / ForMaskedLM)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new BertFamily(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
