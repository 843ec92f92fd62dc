// DistilBERT (DistilBertModel, DistilBertForSequenceClassification, DistilBertForMaskedLM), HF model_type
// "distilbert". The shared post-LN BertEncoder under DistilBERT's names (q_lin/k_lin/v_lin/out_lin, sa_layer_norm,
// ffn.lin1/lin2, output_layer_norm), no token types, LayerNorm eps 1e-12 (fixed in HF, not in config.json);
// classifier classifier(relu(pre_classifier(h[0]))); MLM head vocab_transform, activation, vocab_layer_norm,
// vocab_projector (tied).
#include <ATen/ops/arange.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/relu.h>

#include "graphs/BertEncoder.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class DistilBertFamily : public BertEncoderModel {
 public:
  DistilBertFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    BertEncoderSizes s;
    s.hidden = cfg.requireIntIn("dim", 1, kMaxWidth);
    s.layers = cfg.requireIntIn("n_layers", 1, kMaxLayers);
    s.heads = cfg.requireIntIn("n_heads", 1, kMaxHeads);
    s.intermediate = cfg.requireIntIn("hidden_dim", 1, kMaxWidth);
    s.vocab = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    s.positions = cfg.optIntIn("max_position_embeddings", 512, 1, kMaxPositions);
    s.eps = 1e-12;
    s.activation = cfg.optString("activation", "gelu");
    checkActivation(s.activation, cfg.path());
    if (s.hidden % s.heads != 0)
      throw ConfigError("'" + cfg.path() + "': dim " + std::to_string(s.hidden) + " is not divisible by n_heads " +
                        std::to_string(s.heads));
    const int64_t H = s.hidden;
    BertEncoderNames n;
    n.tokenType = "";
    n.layers = "transformer.layer.";
    n.query = "attention.q_lin";
    n.key = "attention.k_lin";
    n.value = "attention.v_lin";
    n.output = "attention.out_lin";
    n.attentionNorm = "sa_layer_norm";
    n.up = "ffn.lin1";
    n.down = "ffn.lin2";
    n.ffnNorm = "output_layer_norm";
    const std::string p = detectPrefix(ws, {"distilbert.", ""}, "embeddings.word_embeddings.weight");
    m_encoder.load(p, n, s, ws, o);
    m_info.head = "none";
    m_info.architecture = "DistilBertModel";
    if (ws.has("pre_classifier.weight")) {
      const auto labels = cfg.id2label();
      const int64_t count =
          labels.empty() ? cfg.optIntIn("num_labels", 2, 1, kMaxVocab) : static_cast<int64_t>(labels.size());
      m_preClassifier = takeLinear(ws, "pre_classifier", H, H, true, o);
      m_classifier = takeLinear(ws, "classifier", count, H, true, o);
      m_info.head = "classifier";
      m_info.architecture = "DistilBertForSequenceClassification";
      m_info.labels = classLabels(labels, count);
    } else if (ws.has("vocab_transform.weight")) {
      m_transform = takeLinear(ws, "vocab_transform", H, H, true, o);
      m_vocabNorm = takeLayerNorm(ws, "vocab_layer_norm.weight", "vocab_layer_norm.bias", H, 1e-12, o);
      m_projector = ws.takeOptional("vocab_projector.weight", {s.vocab, H}, o);
      if (!m_projector.defined()) m_projector = m_encoder.wordEmbeddings();
      m_projectorBias = ws.take("vocab_projector.bias", {s.vocab}, o);
      m_info.head = "mlm";
      m_info.architecture = "DistilBertForMaskedLM";
    }
    describeTextModel(m_info, "distilbert", m_info.architecture, s.layers, s.heads, H, s.vocab, s.positions, false);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }
  std::string lensStack() const override { return m_transform.wt.defined() ? "self" : ""; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {  // the masked-LM head
    if (!m_transform.wt.defined()) return at::Tensor();
    return at::linear(m_vocabNorm(applyActivation(m_encoder.sizes().activation, m_transform(hidden))), m_projector, m_projectorBias);  // [T, V]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = keyPaddingMask(inputs, T, m_device);  // [T] bool or undefined
    at::Tensor h = m_encoder.embed(ids, at::arange(T, ids.options()), at::Tensor());  // [T, H]
    h = m_encoder.layers(h, padding, options);                                         // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;  // [T, H]
    if (m_classifier.wt.defined())
      out["logits"] = m_classifier(at::relu(m_preClassifier(h.narrow(0, 0, 1))))[0];  // [labels]
    if (m_transform.wt.defined()) {
      const at::Tensor t = m_vocabNorm(applyActivation(m_encoder.sizes().activation, m_transform(h)));  // [T, H]
      out["logits"] = at::linear(t, m_projector, m_projectorBias);                                     // [T, V]
    }
    return out;
  }

 private:
  at::Device m_device;
  Linear m_preClassifier, m_classifier, m_transform;
  LayerNorm m_vocabNorm;
  at::Tensor m_projector, m_projectorBias;
};

const RegisterModelFamily kRegistration({"distilbert", "text", "DistilBERT encoder (classification, masked LM)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new DistilBertFamily(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
