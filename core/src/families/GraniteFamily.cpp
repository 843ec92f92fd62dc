// Granite (GraniteForCausalLM), HF model_type "granite".
// The Llama graph with IBM's multipliers: embeddings × embedding_multiplier, q·kᵀ × attention_multiplier
// (instead of head_dim^-0.5), each sublayer's write × residual_multiplier before it is added, logits ÷
// logits_scaling. The tied head is the unscaled embedding table.
#include "attnscope/ModelConfig.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "granite";
  spec.architecture = "GraniteForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.mlpBias = cfg.optBool("mlp_bias", false);
  spec.activation = cfg.optString("hidden_act", "silu");
  spec.attentionScale = cfg.optDouble("attention_multiplier", 1.0);
  spec.embeddingMultiplier = cfg.optDouble("embedding_multiplier", 1.0);
  spec.residualMultiplier = cfg.optDouble("residual_multiplier", 1.0);
  spec.logitsDivisor = cfg.optDouble("logits_scaling", 1.0);
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"granite", "text",
     "Granite decoder (GraniteForCausalLM, attention/embedding/residual/logit multipliers)", build});

}  // namespace
}  // namespace attnscope
