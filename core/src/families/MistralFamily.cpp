// Mistral (MistralForCausalLM), HF model_type "mistral".
// The Llama graph with a sliding window in every layer: query i sees keys j with i - sliding_window < j <= i
// (exactly sliding_window keys including itself); a null sliding_window is full causal attention.
#include "graphs/RotaryDecoder.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "mistral";
  spec.architecture = "MistralForCausalLM";
  spec.activation = cfg.optString("hidden_act", "silu");
  spec.slidingWindows = slidingWindowsFrom(cfg, "sliding_window", cfg.requireInt("num_hidden_layers"));
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"mistral", "text",
                                         "Mistral decoder (MistralForCausalLM, sliding-window GQA, RoPE)", build});

}  // namespace
}  // namespace attnscope
