// CLIP's vision tower (CLIPVisionModel), HF model_types "clip_vision_model" and "clip" (the vision tower of a full
// CLIP checkpoint; its config.json keeps the tower's fields under vision_config, and the text tower is left unused).
// Conv patch embedding without bias, class_embedding prepended, learned positions, pre_layrnorm before the layers,
// pre-LN layers with quick_gelu, eps from config; last_hidden_state has no final norm and
// pooler_output = post_layernorm(h[0]).
#include <ATen/ops/cat.h>
#include <ATen/ops/conv2d.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class ClipVisionFamily : public Model {
 public:
  ClipVisionFamily(const std::string& type, const ModelConfig& full, WeightStore& ws, const at::TensorOptions& o)
      : m_options(o) {
    // A full CLIP checkpoint: the vision tower's own config.
    const ModelConfig cfg = type == "clip" ? visionConfig(full) : full;
    const std::string& path = cfg.path();
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    const int64_t I = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
    m_image = cfg.optIntIn("image_size", 224, 1, 65536);
    m_patch = cfg.optIntIn("patch_size", 32, 1, 65536);
    m_channels = cfg.optIntIn("num_channels", 3, 1, 16);
    const double eps = cfg.optDouble("layer_norm_eps", 1e-5);
    m_act = cfg.optString("hidden_act", "quick_gelu");
    checkActivation(m_act, path);
    if (H % m_heads != 0)
      throw ConfigError("'" + path + "': hidden_size " + std::to_string(H) + " is not divisible by num_attention_heads " +
                        std::to_string(m_heads));
    if (m_image % m_patch != 0)
      throw ConfigError("'" + path + "': image_size " + std::to_string(m_image) + " is not a multiple of patch_size " +
                        std::to_string(m_patch));
    m_scale = 1.0 / std::sqrt(static_cast<double>(H / m_heads));
    const int64_t grid = m_image / m_patch;
    const std::string p = "vision_model.";
    m_cls = ws.take(p + "embeddings.class_embedding", {H}, o);  // [H]
    if (m_cls.defined()) m_cls = m_cls.view({1, H});             // [1, H]
    m_patchW = ws.take(p + "embeddings.patch_embedding.weight", {H, m_channels, m_patch, m_patch}, o);
    m_pos = ws.take(p + "embeddings.position_embedding.weight", {grid * grid + 1, H}, o);  // [N + 1, H]
    ws.ignore(p + "embeddings.position_ids");
    m_preNorm = takeLayerNorm(ws, p + "pre_layrnorm.weight", p + "pre_layrnorm.bias", H, eps, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "encoder.layers." + std::to_string(l) + ".";
      Layer layer;
      layer.norm1 = takeLayerNorm(ws, b + "layer_norm1.weight", b + "layer_norm1.bias", H, eps, o);
      layer.q = takeLinear(ws, b + "self_attn.q_proj", H, H, true, o);
      layer.k = takeLinear(ws, b + "self_attn.k_proj", H, H, true, o);
      layer.v = takeLinear(ws, b + "self_attn.v_proj", H, H, true, o);
      layer.out = takeLinear(ws, b + "self_attn.out_proj", H, H, true, o);
      layer.norm2 = takeLayerNorm(ws, b + "layer_norm2.weight", b + "layer_norm2.bias", H, eps, o);
      layer.fc1 = takeLinear(ws, b + "mlp.fc1", I, H, true, o);
      layer.fc2 = takeLinear(ws, b + "mlp.fc2", H, I, true, o);
      m_layers.push_back(std::move(layer));
    }
    m_postNorm = takeLayerNorm(ws, p + "post_layernorm.weight", p + "post_layernorm.bias", H, eps, o);
    if (type == "clip")  // the text tower and the projections: not part of the vision model
      for (const auto& n : ws.names())
        if (n.rfind("vision_model.", 0) != 0) ws.ignore(n);
    m_info.modelType = type;
    m_info.architecture = "CLIPVisionModel";
    m_info.modality = "image";
    m_info.head = "none";
    m_info.layers = static_cast<int>(L);
    m_info.heads = m_info.kvHeads = static_cast<int>(m_heads);
    m_info.hidden = static_cast<int>(H);
    m_info.maxPositions = static_cast<int>(grid * grid + 1);
    m_info.imageHeight = m_info.imageWidth = static_cast<int>(m_image);
    m_info.patchSize = static_cast<int>(m_patch);
    m_info.prefixTokens = {"[CLS]"};
  }

  std::vector<std::string> inputNames() const override { return {"pixel_values"}; }
  ResidualForm residualForm() const override { return ResidualForm::PreNorm; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).out.wt, headOutputs);  // [heads, T, H]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor pixels =
        floatInput(inputs, "pixel_values", {m_channels, m_image, m_image}, m_options).unsqueeze(0);  // [1, C, S, S]
    const at::Tensor patches = at::conv2d(pixels, m_patchW, {}, {m_patch, m_patch})[0].flatten(1).t();  // [N, H]
    at::Tensor h = m_preNorm(at::cat({m_cls, patches}, 0) + m_pos);  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const at::Tensor x = L.norm1(h);  // [T, H]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = m_scale;
      const at::Tensor ctx = computeAttention(call, splitHeads(L.q(x), m_heads), splitHeads(L.k(x), m_heads),
                                              splitHeads(L.v(x), m_heads));  // [heads, T, d]
      const at::Tensor attn = L.out(mergeHeads(ctx));  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;                                                          // [T, H]
      const at::Tensor mlp = L.fc2(applyActivation(m_act, L.fc1(L.norm2(h))));  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = h + mlp;  // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    TensorMap out;
    out["last_hidden_state"] = h;                                 // [T, H]
    out["pooler_output"] = m_postNorm(h.narrow(0, 0, 1))[0];      // [H]
    return out;
  }

 private:
  static ModelConfig visionConfig(const ModelConfig& full) {
    if (!full.has("vision_config") || !full.json()["vision_config"].is_object())
      throw ConfigError("'" + full.path() + "': a CLIP config needs the object 'vision_config'");
    return ModelConfig::fromJson(full.json()["vision_config"], full.path() + " (vision_config)");
  }

  struct Layer {
    LayerNorm norm1, norm2;
    Linear q, k, v, out, fc1, fc2;
  };
  at::TensorOptions m_options;
  int64_t m_heads = 0, m_image = 0, m_patch = 0, m_channels = 3;
  double m_scale = 1;
  std::string m_act;
  at::Tensor m_cls, m_patchW, m_pos;
  LayerNorm m_preNorm, m_postNorm;
  std::vector<Layer> m_layers;
};

ModelFactory factory(const std::string& type) {
  return [type](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
    return std::unique_ptr<Model>(new ClipVisionFamily(type, c, w, o));
  };
}

const RegisterModelFamily kVision({"clip_vision_model", "image", "CLIP vision tower (CLIPVisionModel)",
                                   factory("clip_vision_model")});
const RegisterModelFamily kClip({"clip", "image", "CLIP (its vision tower)", factory("clip")});

}  // namespace
}  // namespace attnscope
