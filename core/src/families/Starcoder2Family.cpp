// StarCoder2 (Starcoder2ForCausalLM), HF model_type "starcoder2".
// The rotary decoder with LayerNorms (weight and bias, norm_epsilon) instead of RMSNorm, biases on every
// projection (use_bias), an ungated MLP c_proj(act(c_fc(x))), grouped-query attention and a sliding window on
// every layer.
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "starcoder2";
  spec.architecture = "Starcoder2ForCausalLM";
  spec.qkvBias = spec.outputBias = spec.mlpBias = cfg.optBool("use_bias", true);
  spec.activation = cfg.optString("hidden_act", "gelu_pytorch_tanh");
  spec.layerNorms = true;
  spec.gatedMlp = false;
  spec.tiedByDefault = true;
  spec.slidingWindows =
      slidingWindowsFrom(cfg, "sliding_window", cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers));
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"starcoder2", "text",
     "StarCoder2 decoder (Starcoder2ForCausalLM, LayerNorm, biases, sliding window, GQA)", build});

}  // namespace
}  // namespace attnscope
