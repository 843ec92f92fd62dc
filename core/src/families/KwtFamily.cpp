// KWT — Keyword Transformer (Berg et al., Interspeech 2021), e.g. the official ARM KWT-1 weights. Not a
// transformers model_type: recognised by its config.json ("architecture": "KWT ..."), registered as "kwt".
// Front end (all constants in the checkpoint's frontend.* tensors): 98 frames of 480 samples, hop 160, no
// centring; windowed magnitude DFT (244 bins) -> mel (80) -> natural log (floored) -> DCT (40 MFCCs) -> affine
// normalisation. Encoder: [CLS] + one token per frame, learned positions, post-LN blocks
// x = LN1(x + Attn(x)); x = LN2(x + FFN(x)) with tanh-GELU; classifier on token 0.
#include <ATen/ops/cat.h>
#include <ATen/ops/log.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/sqrt.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class KwtFamily : public Model {
 public:
  KwtFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_options(o) {
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    const int64_t I = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
    m_frames = cfg.optIntIn("num_patches", 98, 1, kMaxPositions);
    const int64_t T = cfg.optIntIn("sequence_length", m_frames + 1, 1, kMaxPositions);
    const double eps = cfg.optDouble("layer_norm_eps", 1e-6);
    m_scale = cfg.optDouble("attention_scale", 1.0 / std::sqrt(static_cast<double>(H / m_heads)));
    const auto labels = cfg.id2label();
    const int64_t nLabels = labels.empty() ? cfg.requireIntIn("num_labels", 1, kMaxVocab) : static_cast<int64_t>(labels.size());

    m_window = ws.take("frontend.window", {m_frameLength}, o);                         // [480]
    m_dftReal = ws.take("frontend.rdft_real", {-1, m_frameLength}, o);                 // [bins, 480]
    const int64_t bins = m_dftReal.defined() ? m_dftReal.size(0) : 0;
    m_dftImag = ws.take("frontend.rdft_imag", {bins, m_frameLength}, o);              // [bins, 480]
    m_mel = ws.take("frontend.mel", {-1, bins}, o);                                   // [mels, bins]
    const int64_t mels = m_mel.defined() ? m_mel.size(0) : 0;
    m_dct = ws.take("frontend.dct", {-1, mels}, o);                                   // [mfcc, mels]
    m_mfcc = m_dct.defined() ? m_dct.size(0) : 40;
    m_logFloor = ws.take("frontend.log_floor", {1}, o);                               // [1]
    m_normSub = ws.take("frontend.norm_sub", {-1}, o);                                // [1] or [mfcc]
    m_normMul = ws.take("frontend.norm_mul", {-1}, o);                                // [1] or [mfcc]
    m_proj = takeLinear(ws, "kwt.patch_proj", H, m_mfcc, true, o);
    m_cls = ws.take("kwt.class_emb", {H}, o).view({1, H});  // [1, H]
    m_pos = ws.take("kwt.pos_emb", {T, H}, o);               // [T, H]
    const bool qkvBias = cfg.optBool("qkv_bias", false);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = "kwt.layers." + std::to_string(l) + ".";
      Layer layer;
      layer.q = takeLinear(ws, b + "attn.q", H, H, qkvBias, o);
      layer.k = takeLinear(ws, b + "attn.k", H, H, qkvBias, o);
      layer.v = takeLinear(ws, b + "attn.v", H, H, qkvBias, o);
      layer.out = takeLinear(ws, b + "attn.out", H, H, true, o);
      layer.ln1 = takeLayerNorm(ws, b + "ln1.weight", b + "ln1.bias", H, eps, o);
      layer.fc1 = takeLinear(ws, b + "ffn.fc1", I, H, true, o);
      layer.fc2 = takeLinear(ws, b + "ffn.fc2", H, I, true, o);
      layer.ln2 = takeLayerNorm(ws, b + "ln2.weight", b + "ln2.bias", H, eps, o);
      m_layers.push_back(std::move(layer));
    }
    m_classifier = takeLinear(ws, "classifier", nLabels, H, true, o);
    m_info.modelType = "kwt";
    m_info.architecture = "KWT (keyword transformer, " + std::to_string(L) + " post-LN layers)";
    m_info.modality = "audio";
    m_info.head = "classifier";
    m_info.labels = classLabels(labels, nLabels);
    m_info.layers = static_cast<int>(L);
    m_info.heads = m_info.kvHeads = static_cast<int>(m_heads);
    m_info.hidden = static_cast<int>(H);
    m_info.maxPositions = static_cast<int>(T);
    m_info.prefixTokens = {"[CLS]"};
    m_info.sampleRate = 16000;
    m_info.windowSeconds = static_cast<double>((m_frames - 1) * m_hop + m_frameLength) / 16000.0;
    m_info.secondsPerPosition = static_cast<double>(m_hop) / 16000.0;
    m_info.audioInput = "input_values";
  }

  std::vector<std::string> inputNames() const override { return {"input_values", "input_features"}; }
  ResidualForm residualForm() const override { return ResidualForm::PostNorm; }
  NormParameters postNorm(int layer, ResidualPart part) const override {
    const Layer& L = m_layers.at(static_cast<size_t>(layer));
    return postNormOf(part, L.ln1, L.ln2);
  }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).out.wt, headOutputs);  // [heads, T, H]
  }

  /// MFCC features [frames, mfcc] of a waveform [samples].
  at::Tensor features(const at::Tensor& wave) const {
    const at::Tensor frames = wave.unfold(0, m_frameLength, m_hop) * m_window;  // [frames, 480]
    const at::Tensor re = at::mm(frames, m_dftReal.t()), im = at::mm(frames, m_dftImag.t());  // [frames, bins]
    const at::Tensor mag = at::sqrt(re * re + im * im);                                       // [frames, bins]
    const at::Tensor logMel = at::log(at::maximum(at::mm(mag, m_mel.t()), m_logFloor));      // [frames, mels]
    return (at::mm(logMel, m_dct.t()) - m_normSub) * m_normMul;                               // [frames, mfcc]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    at::Tensor feats;
    if (inputs.count("input_features")) {
      feats = floatInput(inputs, "input_features", {m_frames, m_mfcc}, m_options);  // [frames, mfcc]
    } else {
      const int64_t samples = (m_frames - 1) * m_hop + m_frameLength;
      feats = features(floatInput(inputs, "input_values", {samples}, m_options));  // [frames, mfcc]
    }
    at::Tensor h = at::cat({m_cls, m_proj(feats)}, 0) + m_pos;  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = m_scale;
      const at::Tensor ctx = computeAttention(call, splitHeads(L.q(h), m_heads), splitHeads(L.k(h), m_heads),
                                              splitHeads(L.v(h), m_heads));  // [heads, T, d]
      const at::Tensor attn = L.out(mergeHeads(ctx));  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = L.ln1(h + attn);                                                     // [T, H]
      const at::Tensor mlp = L.fc2(applyActivation("gelu_new", L.fc1(h)));     // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = L.ln2(h + mlp);  // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    TensorMap out;
    out["last_hidden_state"] = h;                           // [T, H]
    out["logits"] = m_classifier(h.narrow(0, 0, 1))[0];    // [labels]
    out["input_features"] = feats;                          // [frames, mfcc]
    return out;
  }

 private:
  struct Layer {
    Linear q, k, v, out, fc1, fc2;
    LayerNorm ln1, ln2;
  };
  at::TensorOptions m_options;
  int64_t m_heads = 1, m_frames = 98, m_mfcc = 40;
  const int64_t m_frameLength = 480, m_hop = 160;
  double m_scale = 0.125;
  at::Tensor m_window, m_dftReal, m_dftImag, m_mel, m_dct, m_logFloor, m_normSub, m_normMul, m_cls, m_pos;
  Linear m_proj, m_classifier;
  std::vector<Layer> m_layers;
};

const RegisterModelFamily kRegistration(
    {"kwt", "audio", "KWT keyword transformer (MFCC front end in the checkpoint, post-LN encoder, class token)",
     [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) { return std::make_unique<KwtFamily>(c, w, o); },
     [](const ModelConfig& c) {
       const auto& j = c.json();
       return j.contains("architecture") && j["architecture"].is_string() &&
              j["architecture"].get<std::string>().rfind("KWT", 0) == 0;
     }});

}  // namespace
}  // namespace attnscope
