// BERT (BertModel, BertForSequenceClassification, BertForMaskedLM), HF model_type "bert".
// Post-LN encoder (the shared BertEncoder) with token types; classifier on tanh(pooler(h[0])); MLM head.
#include <ATen/ops/arange.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/tanh.h>
#include <ATen/ops/zeros.h>

#include "graphs/BertEncoder.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class BertFamily : public BertEncoderModel {
 public:
  BertFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const BertEncoderSizes s = bertSizes(cfg);
    const int64_t H = s.hidden;
    const std::string p = detectPrefix(ws, {"bert.", ""}, "embeddings.word_embeddings.weight");
    m_encoder.load(p, BertEncoderNames(), s, ws, o);
    const bool wantsPooler = ws.has(p + "pooler.dense.weight");
    if (wantsPooler) m_pooler = takeLinear(ws, p + "pooler.dense", H, H, true, o);
    m_info.head = "none";
    m_info.architecture = "BertModel";
    if (ws.has("classifier.weight")) {
      const auto labels = cfg.id2label();
      const int64_t n = labels.empty() ? cfg.optIntIn("num_labels", 2, 1, kMaxVocab) : static_cast<int64_t>(labels.size());
      m_classifier = takeLinear(ws, "classifier", n, H, true, o);
      // The classifier reads the pooler: without it this records a missing tensor.
      if (!wantsPooler) m_pooler = takeLinear(ws, p + "pooler.dense", H, H, true, o);
      m_info.head = "classifier";
      m_info.architecture = "BertForSequenceClassification";
      m_info.labels = classLabels(labels, n);
    } else if (ws.has("cls.predictions.transform.dense.weight")) {
      m_mlmDense = takeLinear(ws, "cls.predictions.transform.dense", H, H, true, o);
      m_mlmNorm = takeLayerNorm(ws, "cls.predictions.transform.LayerNorm.weight",
                                "cls.predictions.transform.LayerNorm.bias", H, s.eps, o);
      m_mlmDecoder = ws.takeOptional("cls.predictions.decoder.weight", {s.vocab, H}, o);
      if (!m_mlmDecoder.defined()) m_mlmDecoder = m_encoder.wordEmbeddings();  // tied to the word embeddings
      m_mlmBias = ws.take("cls.predictions.bias", {s.vocab}, o);
      for (const char* n : {"cls.predictions.decoder.bias", "cls.seq_relationship.weight", "cls.seq_relationship.bias"})
        ws.ignore(n);
      m_info.head = "mlm";
      m_info.architecture = "BertForMaskedLM";
    }
    describeTextModel(m_info, "bert", m_info.architecture, s.layers, s.heads, H, s.vocab, s.positions, false);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "token_type_ids", "attention_mask"}; }
  std::string lensStack() const override { return m_mlmDense.wt.defined() ? "self" : ""; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {  // the masked-LM head
    if (!m_mlmDense.wt.defined()) return at::Tensor();
    return at::linear(m_mlmNorm(applyActivation(m_encoder.sizes().activation, m_mlmDense(hidden))), m_mlmDecoder, m_mlmBias);  // [T, V]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T, m_info.maxPositions, "input 'input_ids'");
    at::Tensor types = inputIds(inputs, "token_type_ids", m_encoder.sizes().typeVocab, m_device, false);  // [T]
    if (!types.defined()) types = at::zeros({T}, ids.options());                                          // [T]
    if (types.size(0) != T) throw InputError("input 'token_type_ids' must have the length of 'input_ids'");
    const at::Tensor padding = keyPaddingMask(inputs, T, m_device);  // [T] bool or undefined
    at::Tensor h = m_encoder.embed(ids, at::arange(T, ids.options()), types);  // [T, H]
    h = m_encoder.layers(h, padding, options);                                   // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;  // [T, H]
    if (m_pooler.wt.defined()) {
      const at::Tensor pooled = at::tanh(m_pooler(h.narrow(0, 0, 1)))[0];  // [H]
      out["pooler_output"] = pooled;
      if (m_classifier.wt.defined()) out["logits"] = m_classifier(pooled.unsqueeze(0))[0];  // [labels]
    }
    if (m_mlmDense.wt.defined()) {
      const at::Tensor t = m_mlmNorm(applyActivation(m_encoder.sizes().activation, m_mlmDense(h)));  // [T, H]
      out["logits"] = at::linear(t, m_mlmDecoder, m_mlmBias);                                       // [T, V]
    }
    return out;
  }

 private:
  at::Device m_device;
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
