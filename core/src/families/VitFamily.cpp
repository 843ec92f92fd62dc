// ViT (ViTModel, ViTForImageClassification) and DeiT (DeiTModel, DeiTForImageClassification[WithTeacher]),
// HF model_types "vit" and "deit". Pre-LN encoder over [CLS] (+ [DIST] for DeiT) and row-major patches:
// h = h + Attn(LN_before(h)); h = h + MLP(LN_after(h)); final layernorm; classifier on token 0
// (DeiT with teacher: mean of the class and distillation heads).
#include <ATen/ops/cat.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/tanh.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class VitFamily : public Model {
 public:
  VitFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o, bool deit) : m_options(o) {
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    const int64_t I = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
    m_image = cfg.optIntIn("image_size", 224, 1, 65536);
    m_patch = cfg.optIntIn("patch_size", 16, 1, 65536);
    m_channels = cfg.optIntIn("num_channels", 3, 1, 16);
    const double eps = cfg.optDouble("layer_norm_eps", 1e-12);
    const bool qkvBias = cfg.optBool("qkv_bias", true);
    m_act = cfg.optString("hidden_act", "gelu");
    checkActivation(m_act, cfg.path());
    if (H % m_heads != 0)
      throw ConfigError("'" + cfg.path() + "': hidden_size " + std::to_string(H) +
                        " is not divisible by num_attention_heads " + std::to_string(m_heads));
    if (m_image % m_patch != 0)
      throw ConfigError("'" + cfg.path() + "': image_size " + std::to_string(m_image) + " is not a multiple of patch_size " +
                        std::to_string(m_patch));
    m_scale = 1.0 / std::sqrt(static_cast<double>(H / m_heads));
    const int64_t grid = m_image / m_patch, prefix = deit ? 2 : 1;
    const std::string p = detectPrefix(ws, {deit ? "deit." : "vit.", ""}, "embeddings.cls_token");
    m_cls = ws.take(p + "embeddings.cls_token", {1, 1, H}, o).view({1, H});  // [1, H]
    if (deit) m_dist = ws.take(p + "embeddings.distillation_token", {1, 1, H}, o).view({1, H});  // [1, H]
    m_pos = ws.take(p + "embeddings.position_embeddings", {1, grid * grid + prefix, H}, o)[0];  // [N + prefix, H]
    m_patchW = ws.take(p + "embeddings.patch_embeddings.projection.weight", {H, m_channels, m_patch, m_patch}, o);
    m_patchB = ws.take(p + "embeddings.patch_embeddings.projection.bias", {H}, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "encoder.layer." + std::to_string(l) + ".";
      Layer layer;
      layer.q = takeLinear(ws, b + "attention.attention.query", H, H, qkvBias, o);
      layer.k = takeLinear(ws, b + "attention.attention.key", H, H, qkvBias, o);
      layer.v = takeLinear(ws, b + "attention.attention.value", H, H, qkvBias, o);
      layer.out = takeLinear(ws, b + "attention.output.dense", H, H, true, o);
      layer.before = takeLayerNorm(ws, b + "layernorm_before.weight", b + "layernorm_before.bias", H, eps, o);
      layer.after = takeLayerNorm(ws, b + "layernorm_after.weight", b + "layernorm_after.bias", H, eps, o);
      layer.up = takeLinear(ws, b + "intermediate.dense", I, H, true, o);
      layer.down = takeLinear(ws, b + "output.dense", H, I, true, o);
      m_layers.push_back(std::move(layer));
    }
    m_norm = takeLayerNorm(ws, p + "layernorm.weight", p + "layernorm.bias", H, eps, o);
    if (ws.has(p + "pooler.dense.weight")) m_pooler = takeLinear(ws, p + "pooler.dense", H, H, true, o);
    m_info.head = "none";
    m_info.architecture = deit ? "DeiTModel" : "ViTModel";
    const auto labels = cfg.id2label();
    if (ws.has("classifier.weight")) {
      const int64_t n = labels.empty() ? cfg.optIntIn("num_labels", 2, 1, kMaxVocab) : static_cast<int64_t>(labels.size());
      m_classifier = takeLinear(ws, "classifier", n, H, true, o);
      if (deit && ws.has("distillation_classifier.weight")) {
        m_distClassifier = takeLinear(ws, "distillation_classifier", n, H, true, o);
        m_info.architecture = "DeiTForImageClassificationWithTeacher";
      } else {
        m_info.architecture = deit ? "DeiTForImageClassification" : "ViTForImageClassification";
      }
      m_info.head = "classifier";
      m_info.labels = classLabels(labels, n);
    }
    m_info.modelType = deit ? "deit" : "vit";
    m_info.modality = "image";
    m_info.layers = static_cast<int>(L);
    m_info.heads = m_info.kvHeads = static_cast<int>(m_heads);
    m_info.hidden = static_cast<int>(H);
    m_info.maxPositions = static_cast<int>(grid * grid + prefix);
    m_info.imageHeight = m_info.imageWidth = static_cast<int>(m_image);
    m_info.patchSize = static_cast<int>(m_patch);
    m_info.prefixTokens = deit ? std::vector<std::string>{"[CLS]", "[DIST]"} : std::vector<std::string>{"[CLS]"};
  }

  std::vector<std::string> inputNames() const override { return {"pixel_values"}; }
  ResidualForm residualForm() const override { return ResidualForm::PreNorm; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).out.wt, headOutputs);  // [heads, T, H]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor pixels =
        floatInput(inputs, "pixel_values", {m_channels, m_image, m_image}, m_options).unsqueeze(0);  // [1, C, S, S]
    const at::Tensor patches =
        at::conv2d(pixels, m_patchW, m_patchB, {m_patch, m_patch})[0].flatten(1).t();  // [N, H] row-major
    std::vector<at::Tensor> parts = {m_cls};
    if (m_dist.defined()) parts.push_back(m_dist);
    parts.push_back(patches);
    at::Tensor h = at::cat(parts, 0) + m_pos;  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const at::Tensor x = L.before(h);  // [T, H]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = m_scale;
      const at::Tensor ctx = computeAttention(call, splitHeads(L.q(x), m_heads), splitHeads(L.k(x), m_heads),
                                              splitHeads(L.v(x), m_heads));  // [heads, T, d]
      const at::Tensor attn = L.out(mergeHeads(ctx));  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;                                                          // [T, H]
      const at::Tensor mlp = L.down(applyActivation(m_act, L.up(L.after(h))));  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = h + mlp;  // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    h = m_norm(h);  // [T, H]
    TensorMap out;
    out["last_hidden_state"] = h;  // [T, H]
    if (m_pooler.wt.defined()) out["pooler_output"] = at::tanh(m_pooler(h.narrow(0, 0, 1)))[0];  // [H]
    if (m_classifier.wt.defined()) {
      at::Tensor logits = m_classifier(h.narrow(0, 0, 1))[0];  // [labels]
      if (m_distClassifier.wt.defined()) logits = (logits + m_distClassifier(h.narrow(0, 1, 1))[0]) * 0.5;  // [labels]
      out["logits"] = logits;
    }
    return out;
  }

 private:
  struct Layer {
    Linear q, k, v, out, up, down;
    LayerNorm before, after;
  };
  at::TensorOptions m_options;
  int64_t m_heads = 0, m_image = 0, m_patch = 0, m_channels = 3;
  double m_scale = 1;
  std::string m_act;
  at::Tensor m_cls, m_dist, m_pos, m_patchW, m_patchB;
  std::vector<Layer> m_layers;
  LayerNorm m_norm;
  Linear m_pooler, m_classifier, m_distClassifier;
};

const RegisterModelFamily kVit({"vit", "image", "Vision Transformer (ViTModel / ViTForImageClassification)",
                                [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                  return std::make_unique<VitFamily>(c, w, o, false);
                                }});
const RegisterModelFamily kDeit({"deit", "image", "DeiT (distillation token; DeiTForImageClassification[WithTeacher])",
                                 [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                   return std::make_unique<VitFamily>(c, w, o, true);
                                 }});

}  // namespace
}  // namespace attnscope
