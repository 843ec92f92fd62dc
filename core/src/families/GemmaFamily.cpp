// Gemma (GemmaForCausalLM), HF model_type "gemma".
// The Llama graph with: embeddings × sqrt(hidden) rounded to the compute dtype, RMSNorm multiplying by (1 + w) in
// float32, a GeGLU MLP with the tanh GELU (hidden_activation, else hidden_act), head_dim from config (not
// hidden / heads), and the output tied to the unscaled embedding table.
#include "graphs/RotaryDecoder.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "gemma";
  spec.architecture = "GemmaForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.normOffset = 1.0;
  spec.scaleEmbeddings = true;
  spec.tiedByDefault = true;
  spec.activation = cfg.has("hidden_activation") ? cfg.requireString("hidden_activation")
                                                 : cfg.optString("hidden_act", "gelu_pytorch_tanh");
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"gemma", "text", "Gemma decoder (GemmaForCausalLM, GeGLU, (1+w) RMSNorm)",
                                         build});

}  // namespace
}  // namespace attnscope
