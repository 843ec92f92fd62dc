// Qwen2 / Qwen2.5 (Qwen2ForCausalLM), HF model_type "qwen2".
// The Llama graph with biases on q/k/v (not on o_proj); tied embeddings in the small checkpoints; rope_theta 1e6.
// Sliding window as HF's Qwen2 defines it: only when use_sliding_window is true, and then in the layers at or above
// max_window_layers. (transformers 4.50's eager mask also applied `sliding_window` when use_sliding_window was false;
// the released checkpoints set it to the full context, so that only matters past 32k tokens.)
#include "graphs/RotaryDecoder.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "qwen2";
  spec.architecture = "Qwen2ForCausalLM";
  spec.qkvBias = true;
  spec.activation = cfg.optString("hidden_act", "silu");
  if (cfg.optBool("use_sliding_window", false)) {
    const int64_t layers = cfg.requireInt("num_hidden_layers");
    spec.slidingWindows = slidingWindowsFrom(cfg, "sliding_window", layers, cfg.optInt("max_window_layers", 28));
  }
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"qwen2", "text", "Qwen2 decoder (Qwen2ForCausalLM, q/k/v bias, GQA, RoPE)",
                                         build});

}  // namespace
}  // namespace attnscope
