// RoBERTa (RobertaModel, RobertaForSequenceClassification, RobertaForMaskedLM), HF model_types "roberta",
// "xlm-roberta" and "camembert" (the same graph). The shared post-LN BertEncoder with: positions counted from
// pad_token_id + 1 over the non-padding tokens (row t + 2 with pad 1), token-type row 0 added though the tokenizer
// gives no token types, LayerNorm eps from config; classifier out_proj(tanh(dense(h[0]))) without a pooler; MLM head
// lm_head (dense, GELU, layer_norm, decoder tied to the word embeddings, bias).
#include <ATen/ops/cumsum.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/tanh.h>
#include <ATen/ops/zeros.h>

#include "graphs/BertEncoder.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class RobertaFamily : public BertEncoderModel {
 public:
  RobertaFamily(const std::string& type, const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o)
      : m_device(o.device()) {
    BertEncoderSizes s = bertSizes(cfg);
    const int64_t H = s.hidden;
    m_pad = cfg.optIntIn("pad_token_id", 1, 0, s.vocab - 1);
    if (s.positions <= m_pad + 1)
      throw ConfigError("'" + cfg.path() + "': max_position_embeddings " + std::to_string(s.positions) +
                        " leaves no position after pad_token_id + 1");
    const std::string p = detectPrefix(ws, {"roberta.", ""}, "embeddings.word_embeddings.weight");
    m_encoder.load(p, BertEncoderNames(), s, ws, o);
    for (const char* n : {"pooler.dense.weight", "pooler.dense.bias"}) ws.ignore(p + n);  // unused by these heads
    m_info.head = "none";
    m_info.architecture = "RobertaModel";
    if (ws.has("classifier.out_proj.weight")) {
      const auto labels = cfg.id2label();
      const int64_t n = labels.empty() ? cfg.optIntIn("num_labels", 2, 1, kMaxVocab) : static_cast<int64_t>(labels.size());
      m_dense = takeLinear(ws, "classifier.dense", H, H, true, o);
      m_outProj = takeLinear(ws, "classifier.out_proj", n, H, true, o);
      m_info.head = "classifier";
      m_info.architecture = "RobertaForSequenceClassification";
      m_info.labels = classLabels(labels, n);
    } else if (ws.has("lm_head.dense.weight")) {
      m_mlmDense = takeLinear(ws, "lm_head.dense", H, H, true, o);
      m_mlmNorm = takeLayerNorm(ws, "lm_head.layer_norm.weight", "lm_head.layer_norm.bias", H, s.eps, o);
      m_mlmDecoder = ws.takeOptional("lm_head.decoder.weight", {s.vocab, H}, o);
      if (!m_mlmDecoder.defined()) m_mlmDecoder = m_encoder.wordEmbeddings();
      m_mlmBias = ws.take("lm_head.bias", {s.vocab}, o);
      ws.ignore("lm_head.decoder.bias");
      m_info.head = "mlm";
      m_info.architecture = "RobertaForMaskedLM";
    }
    describeTextModel(m_info, type, m_info.architecture, s.layers, s.heads, H, s.vocab,
                      s.positions - m_pad - 1, false);  // 514 rows -> 512 tokens
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }
  std::string lensStack() const override { return m_mlmDense.wt.defined() ? "self" : ""; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {  // the masked-LM head
    if (!m_mlmDense.wt.defined()) return at::Tensor();
    return at::linear(m_mlmNorm(applyActivation("gelu", m_mlmDense(hidden))), m_mlmDecoder, m_mlmBias);  // [T, V]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = keyPaddingMask(inputs, T, m_device);  // [T] bool or undefined
    // HF create_position_ids_from_input_ids: non-padding tokens count up from pad + 1, padding stays at pad.
    const at::Tensor keep = ids.ne(m_pad).to(at::kLong);                 // [T]
    const at::Tensor positions = at::cumsum(keep, 0) * keep + m_pad;     // [T]
    at::Tensor h = m_encoder.embed(ids, positions, at::zeros({T}, ids.options()));  // [T, H]
    h = m_encoder.layers(h, padding, options);                                        // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;  // [T, H]
    if (m_outProj.wt.defined())
      out["logits"] = m_outProj(at::tanh(m_dense(h.narrow(0, 0, 1))))[0];  // [labels]
    if (m_mlmDense.wt.defined()) {
      const at::Tensor t = m_mlmNorm(applyActivation("gelu", m_mlmDense(h)));  // [T, H]
      out["logits"] = at::linear(t, m_mlmDecoder, m_mlmBias);                  // [T, V]
    }
    return out;
  }

 private:
  at::Device m_device;
  int64_t m_pad = 1;
  Linear m_dense, m_outProj, m_mlmDense;
  LayerNorm m_mlmNorm;
  at::Tensor m_mlmDecoder, m_mlmBias;
};

ModelFactory factory(const std::string& type) {
  return [type](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
    return std::unique_ptr<Model>(new RobertaFamily(type, c, w, o));
  };
}

const RegisterModelFamily kRoberta({"roberta", "text", "RoBERTa encoder (classification, masked LM)", factory("roberta")});
const RegisterModelFamily kXlmRoberta({"xlm-roberta", "text", "XLM-RoBERTa encoder (the RoBERTa graph)",
                                       factory("xlm-roberta")});
const RegisterModelFamily kCamembert({"camembert", "text", "CamemBERT encoder (the RoBERTa graph)", factory("camembert")});

}  // namespace
}  // namespace attnscope
