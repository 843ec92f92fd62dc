// Mixtral (MixtralForCausalLM), HF model_type "mixtral".
// Mistral's attention (GQA, RoPE, optional sliding window) with a sparse mixture of experts in every layer
// (block_sparse_moe): softmax over num_local_experts in float32, the top num_experts_per_tok renormalised to
// sum 1, experts w2(silu(w1 x) · w3 x). The routing is reported through the capture.
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "graphs/MoeBlock.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "mixtral";
  spec.architecture = "MixtralForCausalLM";
  spec.activation = cfg.optString("hidden_act", "silu");
  const int64_t layers = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
  spec.slidingWindows = slidingWindowsFrom(cfg, "sliding_window", layers);
  MoeSpec moe;
  moe.experts = cfg.requireIntIn("num_local_experts", 1, kMaxHeads);
  moe.topK = cfg.requireIntIn("num_experts_per_tok", 1, moe.experts);
  moe.intermediate = cfg.requireIntIn("intermediate_size", 1, kMaxWidth);
  moe.activation = spec.activation;
  moe.routing = MoeRouting::SoftmaxTopK;
  moe.normalizeTopK = true;
  moe.router = "block_sparse_moe.gate";
  moe.expertPrefix = "block_sparse_moe.experts.";
  moe.gateName = "w1";
  moe.upName = "w3";
  moe.downName = "w2";
  const int64_t hidden = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
  spec.experts = static_cast<int>(moe.experts);
  spec.expertsPerToken = static_cast<int>(moe.topK);
  spec.feedForward = [moe, hidden](WeightStore& w, const std::string& prefix, int,
                                   const at::TensorOptions& to) {
    return makeMoeBlock(moe, w, prefix, hidden, to);
  };
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"mixtral", "text", "Mixtral decoder (MixtralForCausalLM, top-2 mixture of experts, GQA)", build});

}  // namespace
}  // namespace attnscope
