// OLMo 2 (Olmo2ForCausalLM), HF model_type "olmo2".
// The Llama graph without pre-norms: each layer is x + post_attention_layernorm(attn(x)), then
// x + post_feedforward_layernorm(mlp(x)); q and k are RMS-normed over the whole projection (q_norm weight
// [heads·head_dim], k_norm [kv_heads·head_dim]) before the heads are split and rotated.
#include "attnscope/ModelConfig.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "olmo2";
  spec.architecture = "Olmo2ForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.activation = cfg.optString("hidden_act", "silu");
  spec.preNorms = false;
  spec.postSublayerNorms = true;
  spec.qkNorm = QkNorm::Projection;
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"olmo2", "text",
     "OLMo 2 decoder (Olmo2ForCausalLM, q/k norm over the projection, norms after each sublayer)", build});

}  // namespace
}  // namespace attnscope
