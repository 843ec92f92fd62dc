// Qwen3 (Qwen3ForCausalLM), HF model_type "qwen3".
// The Llama graph with a per-head RMSNorm on q and k before RoPE (self_attn.q_norm / k_norm, weight
// [head_dim]), head_dim from config (not hidden / heads), no q/k/v biases (attention_bias), and the sliding
// window of Qwen3Config.layer_types: config.json's list when it has one, else layers at or above
// max_window_layers slide when use_sliding_window is true (no layer slides otherwise, whatever sliding_window
// says).
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "families/SharedConfig.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {

std::vector<int64_t> qwen3SlidingWindows(const ModelConfig& cfg) {
  const int64_t layers = cfg.requireInt("num_hidden_layers");
  if (!cfg.optBool("use_sliding_window", false) || !cfg.has("sliding_window")) return {};
  const std::vector<std::string> types = layerTypesFrom(cfg, layers);
  if (!types.empty())
    return slidingWindowsFromTypes(types, cfg.requireIntIn("sliding_window", 1, kMaxPositions));
  return slidingWindowsFrom(cfg, "sliding_window", layers, cfg.optInt("max_window_layers", layers));
}

namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "qwen3";
  spec.architecture = "Qwen3ForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.activation = cfg.optString("hidden_act", "silu");
  spec.qkNorm = QkNorm::PerHead;
  spec.slidingWindows = qwen3SlidingWindows(cfg);
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"qwen3", "text",
                                         "Qwen3 decoder (Qwen3ForCausalLM, per-head q/k RMSNorm, GQA, RoPE)",
                                         build});

}  // namespace
}  // namespace attnscope
