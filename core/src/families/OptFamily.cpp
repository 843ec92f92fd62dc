// OPT (OPTForCausalLM), HF model_type "opt".
// Learned positions with an offset of 2 (row = position + 2, position counted over the attention mask), optional
// project_in / project_out when word_embed_proj_dim differs from hidden_size, pre-LN blocks (do_layer_norm_before; post-LN
// otherwise, as opt-350m), q scaled by head_dim^-0.5, ReLU, LayerNorm eps 1e-5, lm_head tied to embed_tokens.
#include <ATen/ops/arange.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/linear.h>

#include <cmath>

#include "engine/FamilyCommon.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

constexpr int64_t kPositionOffset = 2;  // OPTLearnedPositionalEmbedding

class OptFamily : public Model {
 public:
  OptFamily(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) : m_device(o.device()) {
    const std::string& path = cfg.path();
    const int64_t H = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
    const int64_t L = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
    m_heads = cfg.requireIntIn("num_attention_heads", 1, kMaxHeads);
    const int64_t F = cfg.requireIntIn("ffn_dim", 1, kMaxWidth);
    const int64_t V = cfg.requireIntIn("vocab_size", 1, kMaxVocab);
    const int64_t P = cfg.optIntIn("max_position_embeddings", 2048, 1, kMaxPositions);
    const int64_t E = cfg.optIntIn("word_embed_proj_dim", H, 1, kMaxWidth);
    if (H % m_heads != 0)
      throw ConfigError("'" + path + "': hidden_size " + std::to_string(H) + " is not divisible by " +
                        "num_attention_heads " + std::to_string(m_heads));
    if (!cfg.optBool("layer_norm_elementwise_affine", true))
      throw ConfigError("'" + path + "': layer_norm_elementwise_affine false is not supported");
    m_headDim = H / m_heads;
    m_act = cfg.optString("activation_function", "relu");
    checkActivation(m_act, path);
    m_preNorm = cfg.optBool("do_layer_norm_before", true);
    const bool bias = cfg.optBool("enable_bias", true);
    constexpr double eps = 1e-5;

    const std::string p = detectPrefix(ws, {"model.decoder.", "decoder."}, "embed_tokens.weight");
    m_embed = ws.take(p + "embed_tokens.weight", {V, E}, o);
    m_positions = ws.take(p + "embed_positions.weight", {P + kPositionOffset, H}, o);
    if (E != H) {
      m_projectIn = takeLinear(ws, p + "project_in", H, E, false, o);
      m_projectOut = takeLinear(ws, p + "project_out", E, H, false, o);
    }
    for (int64_t l = 0; l < L; ++l) {
      const std::string b = p + "layers." + std::to_string(l) + ".";
      Layer layer;
      layer.q = takeLinear(ws, b + "self_attn.q_proj", H, H, bias, o);
      layer.k = takeLinear(ws, b + "self_attn.k_proj", H, H, bias, o);
      layer.v = takeLinear(ws, b + "self_attn.v_proj", H, H, bias, o);
      layer.out = takeLinear(ws, b + "self_attn.out_proj", H, H, bias, o);
      layer.attnNorm =
          takeLayerNorm(ws, b + "self_attn_layer_norm.weight", b + "self_attn_layer_norm.bias", H, eps, o);
      layer.fc1 = takeLinear(ws, b + "fc1", F, H, bias, o);
      layer.fc2 = takeLinear(ws, b + "fc2", H, F, bias, o);
      layer.ffnNorm = takeLayerNorm(ws, b + "final_layer_norm.weight", b + "final_layer_norm.bias", H, eps, o);
      m_layers.push_back(std::move(layer));
    }
    m_hasFinalNorm = m_preNorm && !cfg.optBool("_remove_final_layer_norm", false);
    if (m_hasFinalNorm)
      m_finalNorm = takeLayerNorm(ws, p + "final_layer_norm.weight", p + "final_layer_norm.bias", H, eps, o);
    m_lmHead = ws.takeOptional("lm_head.weight", {V, E}, o);  // older checkpoints store the tied copy
    if (!m_lmHead.defined()) m_lmHead = m_embed;

    describeTextModel(m_info, "opt", "OPTForCausalLM", L, m_heads, H, V, P, true);
  }

  std::vector<std::string> inputNames() const override { return {"input_ids", "attention_mask"}; }
  std::string lensStack() const override { return "self"; }
  at::Tensor outputHead(const at::Tensor& hidden) const override {
    at::Tensor h = m_hasFinalNorm ? m_finalNorm(hidden) : hidden;  // [T, H]
    if (m_projectOut.wt.defined()) h = m_projectOut(h);               // [T, E]
    return at::linear(h, m_lmHead);                                   // [T, V]
  }
  /// Post-LN OPT (do_layer_norm_before false) renormalises its residual stream in every layer: not a sum of writes.
  bool hasDirectAttribution() const override { return m_preNorm; }
  ResidualForm residualForm() const override { return m_preNorm ? ResidualForm::PreNorm : ResidualForm::PostNorm; }
  NormParameters postNorm(int layer, ResidualPart part) const override {
    const Layer& L = m_layers.at(static_cast<size_t>(layer));
    return postNormOf(part, L.attnNorm, L.ffnNorm);
  }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return headWritesThrough(m_layers.at(static_cast<size_t>(layer)).out.wt, headOutputs);  // [heads, T, H]
  }
  at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                              double* constant) const override {
    return frozenLayerNormHead(parts, residual, m_hasFinalNorm ? &m_finalNorm : nullptr, m_projectOut.wt, m_lmHead,
                               at::Tensor(), target, constant);  // [N]
  }

  TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) override {
    const at::Tensor ids = inputIds(inputs, "input_ids", m_info.vocab, m_device);  // [T]
    const int64_t T = ids.size(0);
    checkLength(T + options.positionOffset, m_info.maxPositions, "input 'input_ids'");
    const at::Tensor padding = options.positionOffset == 0 ? keyPaddingMask(inputs, T, m_device) : at::Tensor();
    at::Tensor pos;  // [T] position of each token, counted over the tokens the mask keeps (HF: cumsum · mask - 1)
    if (padding.defined()) {
      const at::Tensor keep = padding.logical_not().to(at::kLong);  // [T]
      pos = at::cumsum(keep, 0) * keep - 1;                         // [T]
    } else {
      pos = at::arange(options.positionOffset, options.positionOffset + T,
                       at::TensorOptions().dtype(at::kLong).device(m_device));  // [T]
    }
    at::Tensor h = at::embedding(m_embed, ids);              // [T, E]
    if (m_projectIn.wt.defined()) h = m_projectIn(h);          // [T, H]
    h = h + at::embedding(m_positions, pos + kPositionOffset);  // [T, H]
    residualWrite(options, "self", 0, ResidualPart::Embeddings, h);
    for (size_t l = 0; l < m_layers.size(); ++l) {
      const Layer& L = m_layers[l];
      const at::Tensor x = m_preNorm ? L.attnNorm(h) : h;  // [T, H]
      AttentionCall call = attentionCall(options, "self", static_cast<int>(l));
      call.scale = 1.0 / std::sqrt(static_cast<double>(m_headDim));
      call.causal = true;
      call.keyPaddingMask = padding;
      call.cache = options.cache ? &(*options.cache)[l] : nullptr;
      const at::Tensor ctx = computeAttention(call, splitHeads(L.q(x), m_heads), splitHeads(L.k(x), m_heads),
                                              splitHeads(L.v(x), m_heads));  // [heads, T, d]
      const at::Tensor attn = L.out(mergeHeads(ctx));                         // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Attention, attn);
      h = h + attn;                                                           // [T, H]
      if (!m_preNorm) h = L.attnNorm(h);                                      // [T, H]
      const at::Tensor y = m_preNorm ? L.ffnNorm(h) : h;                      // [T, H]
      const at::Tensor mlp = L.fc2(applyActivation(m_act, L.fc1(y)));         // [T, H]
      residualWrite(options, "self", static_cast<int>(l), ResidualPart::Mlp, mlp);
      h = h + mlp;                                                            // [T, H]
      if (!m_preNorm) h = L.ffnNorm(h);                                       // [T, H]
      layerDone(options, "self", static_cast<int>(l), h);
    }
    if (m_hasFinalNorm) h = m_finalNorm(h);              // [T, H]
    if (m_projectOut.wt.defined()) h = m_projectOut(h);  // [T, E]
    TensorMap out;
    out["last_hidden_state"] = h;             // [T, E]
    out["logits"] = at::linear(logitRows(h, options), m_lmHead);  // [T or 1, V]
    return out;
  }

 private:
  struct Layer {
    Linear q, k, v, out, fc1, fc2;
    LayerNorm attnNorm, ffnNorm;
  };
  at::Device m_device;
  int64_t m_heads = 0, m_headDim = 0;
  std::string m_act;
  bool m_preNorm = true, m_hasFinalNorm = true;
  at::Tensor m_embed, m_positions, m_lmHead;
  Linear m_projectIn, m_projectOut;
  LayerNorm m_finalNorm;
  std::vector<Layer> m_layers;
};

const RegisterModelFamily kRegistration({"opt", "text", "OPT decoder (OPTForCausalLM, learned positions + 2)",
                                         [](const ModelConfig& c, WeightStore& w, const at::TensorOptions& o) {
                                           return std::unique_ptr<Model>(new OptFamily(c, w, o));
                                         }});

}  // namespace
}  // namespace attnscope
