// gpt-oss (GptOssForCausalLM), HF model_type "gpt_oss".
// The rotary decoder with: a learned attention sink per head (self_attn.sinks: one more softmax column with
// no value; HF returns the real keys' probabilities, whose rows sum to 1 − the sink's share, which the
// capture keeps beside them), biases on q/k/v/o, alternating sliding/full layers (layer_types), YaRN rotary,
// and a mixture of experts in every layer: the router (with bias) keeps the top num_experts_per_tok logits
// and softmaxes those k; the experts are packed (gate_up_proj [E, hidden, 2·I] with gate/up interleaved,
// down_proj [E, I, hidden], biases) and use the clamped SwiGLU ((up + 1) · gate·σ(1.702·gate), gate ≤ limit,
// |up| ≤ limit).
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "graphs/MoeBlock.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "gpt_oss";
  spec.architecture = "GptOssForCausalLM";
  spec.qkvBias = spec.outputBias = true;  // HF forces attention_bias
  spec.activation = "silu";
  spec.attentionSinks = true;
  const int64_t layers = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
  if (cfg.has("sliding_window")) {
    const int64_t window = cfg.requireIntIn("sliding_window", 1, kMaxPositions);
    std::vector<std::string> types = layerTypesFrom(cfg, layers);
    if (types.empty())
      for (int64_t l = 0; l < layers; ++l)
        types.push_back(l % 2 == 0 ? "sliding_attention" : "full_attention");
    spec.slidingWindows = slidingWindowsFromTypes(types, window);
  }
  MoeSpec moe;
  moe.experts = cfg.requireIntIn("num_local_experts", 1, kMaxHeads);
  moe.topK = cfg.has("num_experts_per_tok") ? cfg.requireIntIn("num_experts_per_tok", 1, moe.experts)
                                            : cfg.requireIntIn("experts_per_token", 1, moe.experts);
  moe.intermediate = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
  moe.routing = MoeRouting::TopKSoftmax;
  moe.router = "mlp.router";
  moe.routerBias = true;
  moe.packedExperts = true;
  moe.swigluLimit = cfg.optDouble("swiglu_limit", 7.0);
  spec.experts = static_cast<int>(moe.experts);
  spec.expertsPerToken = static_cast<int>(moe.topK);
  const int64_t hidden = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
  spec.feedForward = [moe, hidden](WeightStore& w, const std::string& prefix, int,
                                   const at::TensorOptions& to) {
    return makeMoeBlock(moe, w, prefix, hidden, to);
  };
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"gpt_oss", "text",
     "gpt-oss decoder (GptOssForCausalLM, learned attention sinks, sliding/full, top-k experts)", build});

}  // namespace
}  // namespace attnscope
