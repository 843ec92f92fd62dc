// Qwen3-MoE (Qwen3MoeForCausalLM), HF model_type "qwen3_moe".
// Qwen3's attention (per-head q/k RMSNorm before RoPE, head_dim from config, Qwen3's window rule) with
// Qwen2-MoE's sparse-layer rule (mlp_only_layers, decoder_sparse_step) and no shared expert: top
// num_experts_per_tok of a float32 softmax over num_experts, renormalised when norm_topk_prob.
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "families/SharedConfig.h"
#include "graphs/MoeBlock.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "qwen3_moe";
  spec.architecture = "Qwen3MoeForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.activation = cfg.optString("hidden_act", "silu");
  spec.qkNorm = QkNorm::PerHead;
  spec.slidingWindows = qwen3SlidingWindows(cfg);
  MoeSpec moe;
  moe.experts = cfg.optIntIn("num_experts", 0, 0, kMaxHeads);
  if (moe.experts > 0) {
    moe.topK = cfg.requireIntIn("num_experts_per_tok", 1, moe.experts);
    moe.intermediate = cfg.requireIntIn("moe_intermediate_size", 1, kMaxWidth);
    moe.activation = spec.activation;
    moe.normalizeTopK = cfg.optBool("norm_topk_prob", false);
    useQwenSparseLayers(spec, cfg, moe);
  }
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"qwen3_moe", "text",
                                         "Qwen3-MoE decoder (Qwen3MoeForCausalLM, q/k norm, top-k experts)",
                                         build});

}  // namespace
}  // namespace attnscope
