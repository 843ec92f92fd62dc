#pragma once
// The sparse mixture-of-experts feed-forward block of Mixtral, Qwen2-MoE, Qwen3-MoE and gpt-oss: a router
// chooses k experts per token, their outputs are mixed with the router's weights, and the routing is reported
// through the capture (AttentionHook::onRouting) like attention is. Each family says how its router
// normalises and how its experts are stored; the arithmetic is written once, here. Internal to core.

#include <memory>
#include <string>

#include "graphs/RotaryDecoder.h"

namespace attnscope {

/// How a router turns its logits into the k experts and their weights.
enum class MoeRouting {
  SoftmaxTopK,  ///< softmax over all experts in float32, the k largest (Mixtral, Qwen-MoE), optionally
                ///< renormalised
  TopKSoftmax   ///< the k largest logits, softmax over those k only (gpt-oss)
};

/// Where a family's MoE weights live and what they compute.
struct MoeSpec {
  int64_t experts = 0;       ///< routed experts
  int64_t topK = 0;          ///< experts per token
  int64_t intermediate = 0;  ///< each expert's intermediate width
  MoeRouting routing = MoeRouting::SoftmaxTopK;
  bool normalizeTopK = true;  ///< SoftmaxTopK: renormalise the k weights to sum 1 (norm_topk_prob)
  std::string activation = "silu";
  std::string router = "mlp.gate";  ///< the router's Linear [experts, hidden] (under the layer prefix)
  bool routerBias = false;
  /// Separate experts: <expertPrefix><e>.<gate|up|down>.weight (Mixtral: w1, w3, w2; Qwen: gate_proj,
  /// up_proj, down_proj), no biases.
  std::string expertPrefix = "mlp.experts.";
  std::string gateName = "gate_proj", upName = "up_proj", downName = "down_proj";
  /// gpt-oss: experts packed as <expertPrefix>gate_up_proj [experts, hidden, 2·I] (gate in the even columns,
  /// up in the odd ones) and down_proj [experts, I, hidden], each with a bias, and the clamped SwiGLU (gate ≤
  /// limit, |up| ≤ limit, gate·σ(1.702·gate)·(up + 1)).
  bool packedExperts = false;
  double swigluLimit = 7.0;
  /// A shared expert every token also goes through (Qwen2-MoE): <sharedName>.{gate,up,down}_proj, width
  /// sharedIntermediate, scaled by σ(<sharedGateName> · x) when sharedGateName is set.
  std::string sharedName;
  int64_t sharedIntermediate = 0;
  std::string sharedGateName;
};

/// Reads the block of the layer under \p layerPrefix ("model.layers.3.") for a model of \p hidden width.
std::unique_ptr<FeedForwardBlock> makeMoeBlock(const MoeSpec& spec, WeightStore& ws,
                                               const std::string& layerPrefix, int64_t hidden,
                                               const at::TensorOptions& o);

}  // namespace attnscope
