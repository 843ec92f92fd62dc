// DINOv2 (Dinov2Model, Dinov2ForImageClassification), HF model_type "dinov2".
// Pre-LN ViT blocks with LayerScale (h + λ1·attn(norm1 h), h + λ2·ffn(norm2 h)), an MLP or SwiGLU feed-forward,
// position embeddings interpolated with PyTorch's bicubic (A = -0.75, align_corners false) whenever the patch grid
// differs from the stored one or the image is not square, pixels past the last whole patch ignored, a final
// layernorm, and the classifier on [CLS, mean(patches)]. Any image size a whole number of patches fits is accepted.
#include <ATen/ops/cat.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/upsample_bicubic2d.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

class Dinov2Family : public Model {
 public:
  Dinov2Family(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_options(o) {
    const std::string& path = cfg.path();
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    m_image = cfg.optIntIn("image_size", 518, 1, 65536);
    m_patch = cfg.optIntIn("patch_size", 14, 1, 65536);
    m_channels = cfg.optIntIn("num_channels", 3, 1, 16);
    const double mlpRatio = cfg.optDouble("mlp_ratio", 4.0);
    const double eps = cfg.optDouble("layer_norm_eps", 1e-6);
    const bool qkvBias = cfg.optBool("qkv_bias", true);
    m_swiglu = cfg.optBool("use_swiglu_ffn", false);
    m_act = cfg.optString("hidden_act", "gelu");
    checkActivation(m_act, path);
    if (H % m_heads != 0)
      throw ConfigError("'" + path + "': hidden_size " + std::to_string(H) + " is not divisible by num_attention_heads " +
                        std::to_string(m_heads));
    if (!(mlpRatio > 0 && mlpRatio < 64)) throw ConfigError("'" + path + "': mlp_ratio must be in (0, 64)");
    m_scale = 1.0 / std::sqrt(static_cast<double>(H / m_heads));
    m_grid = m_image / m_patch;
    const std::string p = detectPrefix(ws, {"dinov2.", ""}, "embeddings.cls_token");
    m_cls = ws.take(p + "embeddings.cls_token", {1, 1, H}, o).view({1, H});                 // [1, H]
    m_pos = ws.take(p + "embeddings.position_embeddings", {1, m_grid * m_grid + 1, H}, o);  // [1, N + 1, H]
    if (m_pos.defined()) m_pos = m_pos[0];                                                   // [N + 1, H]
    ws.ignore(p + "embeddings.mask_token");  // used only for masked pre-training
    m_patchW = ws.take(p + "embeddings.patch_embeddings.projection.weight", {H, m_channels, m_patch, m_patch}, o);
    m_patchB = ws.take(p + "embeddings.patch_embeddings.projection.bias", {H}, o);
    const int64_t hidden = static_cast<int64_t>(static_cast<double>(H) * mlpRatio);
    const int64_t swigluHidden = (static_cast<int64_t>(static_cast<double>(hidden) * 2.0 / 3.0) + 7) / 8 * 8;
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "encoder.layer." + std::to_string(l) + ".";
      Layer layer;
      layer.norm1 = takeLayerNorm(ws, b + "norm1.weight", b + "norm1.bias", H, eps, o);
      layer.q = takeLinear(ws, b + "attention.attention.query", H, H, qkvBias, o);
      layer.k = takeLinear(ws, b + "attention.attention.key", H, H, qkvBias, o);
      layer.v = takeLinear(ws, b + "attention.attention.value", H, H, qkvBias, o);
      layer.out = takeLinear(ws, b + "attention.output.dense", H, H, true, o);
      layer.scale1 = ws.take(b + "layer_scale1.lambda1", {H}, o);
      layer.norm2 = takeLayerNorm(ws, b + "norm2.weight", b + "norm2.bias", H, eps, o);
      if (m_swiglu) {
        layer.up = takeLinear(ws, b + "mlp.weights_in", 2 * swigluHidden, H, true, o);
        layer.down = takeLinear(ws, b + "mlp.weights_out", H, swigluHidden, true, o);
      } else {
        layer.up = takeLinear(ws, b + "mlp.fc1", hidden, H, true, o);
        layer.down = takeLinear(ws, b + "mlp.fc2", H, hidden, true, o);
      }
      layer.scale2 = ws.take(b + "layer_scale2.lambda1", {H}, o);
      m_layers.push_back(std::move(layer));
    }
    m_norm = takeLayerNorm(ws, p + "layernorm.weight", p + "layernorm.bias", H, eps, o);
    m_info.head = "none";
    m_info.architecture = "Dinov2Model";
    if (ws.has("classifier.weight")) {
      const auto labels = cfg.id2label();
      const int64_t n = labels.empty() ? cfg.optIntIn("num_labels", 2, 1, kMaxVocab) : static_cast<int64_t>(labels.size());
      m_classifier = takeLinear(ws, "classifier", n, 2 * H, true, o);
      m_info.head = "classifier";
      m_info.architecture = "Dinov2ForImageClassification";
      m_info.labels = classLabels(labels, n);
    }
    m_info.modelType = "dinov2";
    m_info.modality = "image";
    m_info.layers = static_cast<int>(L);
    m_info.heads = m_info.kvHeads = static_cast<int>(m_heads);
    m_info.hidden = static_cast<int>(H);
    m_info.maxPositions = static_cast<int>(m_grid * m_grid + 1);
    m_info.imageHeight = m_info.imageWidth = static_cast<int>(m_image);
    m_info.patchSize = static_cast<int>(m_patch);
    m_info.anyImageSize = true;
    m_info.prefixTokens = {"[CLS]"};
  }

  std::vector<std::string> inputNames() const override { return {"pixel_values"}; }
  ResidualForm residualForm() const override { return ResidualForm::PreNorm; }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {  // layer scale included
    const Layer& L = m_layers.at(static_cast<size_t>(layer));
    return headWritesThrough(L.out.wt, headOutputs) * L.scale1;  // [heads, T, H]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor pixels = floatInput(inputs, "pixel_values", {m_channels, -1, -1}, m_options).unsqueeze(0);  // [1, C, Hp, Wp]
    const int64_t height = pixels.size(2), width = pixels.size(3);
    if (height < m_patch || width < m_patch)
      throw InputError("input 'pixel_values' is " + std::to_string(width) + "x" + std::to_string(height) +
                       " pixels, smaller than one " + std::to_string(m_patch) + "-pixel patch");
    // Stride = patch: pixels past the last whole patch are ignored.
    const at::Tensor patches = at::conv2d(pixels, m_patchW, m_patchB, {m_patch, m_patch})[0].flatten(1).t();  // [N, H]
    TensorMap out;
    const at::Tensor pos = positions(height / m_patch, width / m_patch, height == width);  // [N + 1, H]
    out["position_embeddings_interpolated"] = pos;
    at::Tensor h = at::cat({m_cls, patches}, 0) + pos;  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const at::Tensor x = L.norm1(h);  // [T, H]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = m_scale;
      const at::Tensor ctx = computeAttention(call, splitHeads(L.q(x), m_heads), splitHeads(L.k(x), m_heads),
                                              splitHeads(L.v(x), m_heads));  // [heads, T, d]
      const at::Tensor attn = L.out(mergeHeads(ctx)) * L.scale1;  // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;                                                     // [T, H]
      const at::Tensor mlp = feedForward(L, L.norm2(h)) * L.scale2;     // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = h + mlp;  // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    h = m_norm(h);  // [T, H]
    out["last_hidden_state"] = h;  // [T, H]
    out["pooler_output"] = h[0];   // [H]
    if (m_classifier.wt.defined()) {
      const at::Tensor features = at::cat({h[0], h.narrow(0, 1, h.size(0) - 1).mean(0)}, 0);  // [2H]
      out["logits"] = m_classifier(features.unsqueeze(0))[0];                                 // [labels]
    }
    return out;
  }

 private:
  struct Layer {
    LayerNorm norm1, norm2;
    Linear q, k, v, out, up, down;
    at::Tensor scale1, scale2;
  };

  at::Tensor feedForward(const Layer& L, const at::Tensor& x) const {
    if (!m_swiglu) return L.down(applyActivation(m_act, L.up(x)));  // [T, H]
    const at::Tensor both = L.up(x);                                 // [T, 2F]
    const int64_t f = both.size(1) / 2;
    return L.down(at::silu(both.narrow(1, 0, f)) * both.narrow(1, f, f));  // [T, H]
  }

  /// The stored positions, or the patch rows bicubic-interpolated to a (rows, cols) grid as HF does.
  at::Tensor positions(int64_t rows, int64_t cols, bool square) const {
    if (rows * cols == m_grid * m_grid && square) return m_pos;
    const int64_t H = m_pos.size(1);
    const at::Tensor grid = m_pos.narrow(0, 1, m_grid * m_grid)
                                .reshape({1, m_grid, m_grid, H})
                                .permute({0, 3, 1, 2})
                                .to(at::kFloat);                                            // [1, H, g, g]
    const at::Tensor resized = at::upsample_bicubic2d(grid, {rows, cols}, /*align_corners=*/false);  // [1, H, r, c]
    const at::Tensor flat = resized.permute({0, 2, 3, 1}).reshape({rows * cols, H}).to(m_pos.scalar_type());  // [r·c, H]
    return at::cat({m_pos.narrow(0, 0, 1), flat}, 0);  // [r·c + 1, H]
  }

  at::TensorOptions m_options;
  int64_t m_heads = 0, m_image = 0, m_patch = 0, m_channels = 3, m_grid = 0;
  double m_scale = 1;
  bool m_swiglu = false;
  std::string m_act;
  at::Tensor m_cls, m_pos, m_patchW, m_patchB;
  std::vector<Layer> m_layers;
  LayerNorm m_norm;
  Linear m_classifier;
};

const RegisterModelFamily kRegistration({"dinov2", "image", "DINOv2 (LayerScale, interpolated positions)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new Dinov2Family(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
