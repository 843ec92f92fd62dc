// wav2vec 2.0 (Wav2Vec2Model, Wav2Vec2ForCTC), HF model_types "wav2vec2" and "hubert" (the same graph).
// A convolutional feature encoder over the raw waveform (no padding; "group": GroupNorm with one group per channel
// after conv 0 only; "layer": LayerNorm over channels after every conv; GELU), extract_features = LayerNorm of the
// conv features, a projection, a weight-normed grouped positional convolution (dim 2; padding K//2, the last frame
// dropped when K is even, GELU) — stored as weight_g/weight_v or parametrizations.weight.original0/1 — then the
// post-LN encoder (LN(h + pos) first) or the stable-layer-norm encoder (pre-LN layers, encoder.layer_norm last),
// q scaled by head_dim^-0.5, and the CTC head.
#include <ATen/ops/conv1d.h>
#include <ATen/ops/group_norm.h>
#include <ATen/ops/linear.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

std::vector<int64_t> intList(const ModelConfig& cfg, const std::string& key, size_t count) {
  if (!cfg.has(key) || !cfg.json()[key].is_array())
    throw ConfigError("'" + cfg.path() + "' lacks the list '" + key + "'");
  std::vector<int64_t> out;
  for (const auto& v : cfg.json()[key]) {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1 << 16)
      throw ConfigError("'" + cfg.path() + "': '" + key + "' must hold whole numbers from 1 to 65536");
    out.push_back(v.get<int64_t>());
  }
  if (out.empty() || out.size() > 64 || (count && out.size() != count))
    throw ConfigError("'" + cfg.path() + "': '" + key + "' must have " +
                      (count ? std::to_string(count) : std::string("1 to 64")) + " entries");
  return out;
}

class Wav2Vec2Family : public Model {
 public:
  Wav2Vec2Family(const std::string& type, const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o)
      : m_options(o) {
    const std::string& path = cfg.path();
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    const int64_t I = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
    m_eps = cfg.optDouble("layer_norm_eps", 1e-5);
    m_act = cfg.optString("hidden_act", "gelu");
    m_convAct = cfg.optString("feat_extract_activation", "gelu");
    checkActivation(m_act, path);
    checkActivation(m_convAct, path);
    m_dims = intList(cfg, "conv_dim", 0);
    m_strides = intList(cfg, "conv_stride", m_dims.size());
    m_kernels = intList(cfg, "conv_kernel", m_dims.size());
    m_layerMode = cfg.optString("feat_extract_norm", "group") == "layer";
    if (!m_layerMode && cfg.optString("feat_extract_norm", "group") != "group")
      throw ConfigError("'" + path + "': feat_extract_norm must be 'group' or 'layer'");
    m_stable = cfg.optBool("do_stable_layer_norm", false);
    const bool convBias = cfg.optBool("conv_bias", false);
    const int64_t posK = cfg.optIntIn("num_conv_pos_embeddings", 128, 1, 1 << 16);
    m_posGroups = cfg.optIntIn("num_conv_pos_embedding_groups", 16, 1, H);
    if (H % m_heads != 0 || H % m_posGroups != 0)
      throw ConfigError("'" + path + "': hidden_size " + std::to_string(H) +
                        " must be divisible by num_attention_heads and num_conv_pos_embedding_groups");
    m_scale = 1.0 / std::sqrt(static_cast<double>(H / m_heads));

    const std::string p = detectPrefix(ws, {type + ".", ""}, "feature_projection.projection.weight");
    int64_t in = 1;
    for (size_t i = 0; i < m_dims.size(); ++i) {
      const std::string b = p + "feature_extractor.conv_layers." + std::to_string(i) + ".";
      Conv c;
      c.w = ws.take(b + "conv.weight", {m_dims[i], in, m_kernels[i]}, o);
      if (convBias) c.b = ws.take(b + "conv.bias", {m_dims[i]}, o);
      if (m_layerMode || i == 0) c.norm = takeLayerNorm(ws, b + "layer_norm.weight", b + "layer_norm.bias", m_dims[i], 1e-5, o);
      m_convs.push_back(std::move(c));
      in = m_dims[i];
    }
    const int64_t C = m_dims.back();
    m_featNorm = takeLayerNorm(ws, p + "feature_projection.layer_norm.weight", p + "feature_projection.layer_norm.bias",
                               C, m_eps, o);
    m_projection = takeLinear(ws, p + "feature_projection.projection", H, C, true, o);
    // The weight-normed positional convolution (dim 2): w[:, :, k] = g[k] · v[:, :, k] / ‖v[:, :, k]‖.
    const std::string pc = p + "encoder.pos_conv_embed.conv.";
    const bool parametrized = ws.has(pc + "parametrizations.weight.original0");
    const at::Tensor g = ws.take(pc + (parametrized ? "parametrizations.weight.original0" : "weight_g"), {1, 1, posK}, o);
    const at::Tensor v =
        ws.take(pc + (parametrized ? "parametrizations.weight.original1" : "weight_v"), {H, H / m_posGroups, posK}, o);
    if (g.defined() && v.defined()) m_posW = g * v / v.pow(2).sum(at::IntArrayRef{0, 1}, true).sqrt();  // [H, H/groups, K]
    m_posB = ws.take(pc + "bias", {H}, o);
    m_posK = posK;
    m_encNorm = takeLayerNorm(ws, p + "encoder.layer_norm.weight", p + "encoder.layer_norm.bias", H, m_eps, o);
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "encoder.layers." + std::to_string(l) + ".";
      Layer layer;
      layer.q = takeLinear(ws, b + "attention.q_proj", H, H, true, o);
      layer.k = takeLinear(ws, b + "attention.k_proj", H, H, true, o);
      layer.v = takeLinear(ws, b + "attention.v_proj", H, H, true, o);
      layer.out = takeLinear(ws, b + "attention.out_proj", H, H, true, o);
      layer.norm = takeLayerNorm(ws, b + "layer_norm.weight", b + "layer_norm.bias", H, m_eps, o);
      layer.up = takeLinear(ws, b + "feed_forward.intermediate_dense", I, H, true, o);
      layer.down = takeLinear(ws, b + "feed_forward.output_dense", H, I, true, o);
      layer.finalNorm = takeLayerNorm(ws, b + "final_layer_norm.weight", b + "final_layer_norm.bias", H, m_eps, o);
      m_layers.push_back(std::move(layer));
    }
    ws.ignore(p + "masked_spec_embed");  // used only for masked pre-training
    m_info.head = "none";
    m_info.architecture = type == "hubert" ? "HubertModel" : "Wav2Vec2Model";
    if (ws.has("lm_head.weight")) {
      const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
      m_lmHead = takeLinear(ws, "lm_head", V, H, true, o);
      m_info.head = "ctc";
      m_info.vocab = static_cast<int>(V);
      m_info.architecture = type == "hubert" ? "HubertForCTC" : "Wav2Vec2ForCTC";
    }
    m_info.modelType = type;
    m_info.modality = "audio";
    m_info.layers = static_cast<int>(L);
    m_info.heads = m_info.kvHeads = static_cast<int>(m_heads);
    m_info.hidden = static_cast<int>(H);
    m_info.sampleRate = 16000;
    m_info.audioInput = "input_values";
    m_info.anyAudioLength = true;
    m_info.windowSeconds = 30.0;  // attention is quadratic in the frames: 30 s = ~1500 frames at once
    m_info.audioConvKernels.assign(m_kernels.begin(), m_kernels.end());
    m_info.audioConvStrides.assign(m_strides.begin(), m_strides.end());
    int64_t hop = 1;
    for (int64_t s : m_strides) hop *= s;
    m_info.secondsPerPosition = static_cast<double>(hop) / 16000.0;
    m_info.maxPositions = 0;
  }

  std::vector<std::string> inputNames() const override { return {"input_values"}; }
  /// Base checkpoints normalise after each block; "stable layer norm" ones (large) inside them.
  ResidualForm residualForm() const override { return m_stable ? ResidualForm::PreNorm : ResidualForm::PostNorm; }
  NormParameters postNorm(int layer, ResidualPart part) const override {
    const Layer& L = m_layers.at(static_cast<size_t>(layer));
    return postNormOf(part, L.norm, L.finalNorm);
  }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).out.wt, headOutputs);  // [heads, T, H]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    at::Tensor x = floatInput(inputs, "input_values", {-1}, m_options).view({1, 1, -1});  // [1, 1, N]
    int64_t frames = x.size(2);
    for (size_t i = 0; i < m_kernels.size(); ++i) frames = frames < m_kernels[i] ? 0 : (frames - m_kernels[i]) / m_strides[i] + 1;
    if (frames < 1)
      throw InputError("input 'input_values' has " + std::to_string(x.size(2)) +
                       " samples, fewer than the feature encoder's receptive field (" +
                       std::to_string(receptiveField()) + " samples, " +
                       std::to_string(receptiveField() * 1000 / 16000) + " ms)");
    for (size_t i = 0; i < m_convs.size(); ++i) {
      const Conv& c = m_convs[i];
      x = at::conv1d(x, c.w, c.b, {m_strides[i]});  // [1, C, frames_i]
      if (c.norm.w.defined()) {
        if (m_layerMode) x = c.norm(x.transpose(1, 2)).transpose(1, 2);                          // [1, C, F]
        else x = at::group_norm(x, x.size(1), c.norm.w, c.norm.b, 1e-5);                      // [1, C, F]
      }
      x = applyActivation(m_convAct, x);  // [1, C, F]
    }
    const at::Tensor features = m_featNorm(x[0].t());  // [F, C]
    TensorMap out;
    out["extract_features"] = features;
    at::Tensor h = m_projection(features);  // [F, H]
    at::Tensor pos = at::conv1d(h.t().unsqueeze(0), m_posW, m_posB, {1}, {m_posK / 2}, {1}, m_posGroups);  // [1, H, F']
    if (m_posK % 2 == 0) pos = pos.narrow(2, 0, pos.size(2) - 1);  // same-pad: drop the last frame
    pos = applyActivation(m_convAct, pos)[0].t();                    // [F, H]
    h = h + pos;                                                      // [F, H]
    if (!m_stable) h = m_encNorm(h);                                  // [F, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = m_scale;
      const at::Tensor a = m_stable ? L.norm(h) : h;  // [F, H]
      const at::Tensor ctx = computeAttention(call, splitHeads(L.q(a), m_heads), splitHeads(L.k(a), m_heads),
                                              splitHeads(L.v(a), m_heads));  // [heads, F, d]
      const at::Tensor attn = L.out(mergeHeads(ctx));  // [F, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;  // [F, H]
      if (!m_stable) h = L.norm(h);  // [F, H]
      const at::Tensor mlp = L.down(applyActivation(m_act, L.up(m_stable ? L.finalNorm(h) : h)));  // [F, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = m_stable ? h + mlp : L.finalNorm(h + mlp);  // [F, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    if (m_stable) h = m_encNorm(h);  // [F, H]
    out["last_hidden_state"] = h;    // [F, H]
    if (m_lmHead.wt.defined()) out["logits"] = m_lmHead(h);  // [F, V]
    return out;
  }

 private:
  int64_t receptiveField() const {
    int64_t field = 1;
    for (size_t i = m_kernels.size(); i-- > 0;) field = (field - 1) * m_strides[i] + m_kernels[i];
    return field;
  }

  struct Conv {
    at::Tensor w, b;
    LayerNorm norm;
  };
  struct Layer {
    Linear q, k, v, out, up, down;
    LayerNorm norm, finalNorm;
  };
  at::TensorOptions m_options;
  int64_t m_heads = 0, m_posGroups = 16, m_posK = 128;
  double m_eps = 1e-5, m_scale = 1;
  bool m_layerMode = false, m_stable = false;
  std::string m_act, m_convAct;
  std::vector<int64_t> m_dims, m_strides, m_kernels;
  std::vector<Conv> m_convs;
  LayerNorm m_featNorm, m_encNorm;
  Linear m_projection, m_lmHead;
  at::Tensor m_posW, m_posB;
  std::vector<Layer> m_layers;
};

ModelFactory factory(const std::string& type) {
  return [type](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
    return std::unique_ptr<Model>(new Wav2Vec2Family(type, c, w, o));
  };
}

const RegisterModelFamily kWav2Vec2({"wav2vec2", "audio", "wav2vec 2.0 (Wav2Vec2Model / ForCTC)", factory("wav2vec2")});
const RegisterModelFamily kHubert({"hubert", "audio", "HuBERT (the wav2vec 2.0 graph)", factory("hubert")});

}  // namespace
}  // namespace attnscope
