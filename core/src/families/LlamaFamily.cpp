// Llama (LlamaForCausalLM), HF model_type "llama".
// RMSNorm, RoPE in HF's rotate-half layout (every rope_scaling type), grouped-query attention, SiLU-gated MLP;
// attention_bias / mlp_bias / head_dim as real checkpoints set them. The graph is the shared RotaryDecoder.
#include "graphs/RotaryDecoder.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "llama";
  spec.architecture = "LlamaForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.mlpBias = cfg.optBool("mlp_bias", false);
  spec.activation = cfg.optString("hidden_act", "silu");
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"llama", "text", "Llama decoder (LlamaForCausalLM, GQA, RoPE)", build});

}  // namespace
}  // namespace attnscope
