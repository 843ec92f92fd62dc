// Qwen2-MoE (Qwen2MoeForCausalLM), HF model_type "qwen2_moe".
// Qwen2's attention (q/k/v biases, GQA, RoPE, Qwen2's window rule) with sparse layers: layer l is a mixture
// of num_experts (top num_experts_per_tok of a float32 softmax, renormalised only when norm_topk_prob) plus a
// shared expert scaled by σ(shared_expert_gate · x), unless l is in mlp_only_layers or (l + 1) %
// decoder_sparse_step != 0; those are dense MLPs of intermediate_size.
#include <algorithm>

#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "families/SharedConfig.h"
#include "graphs/MoeBlock.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {

namespace {
/// mlp_only_layers: the layers that stay dense MLPs.
std::vector<int64_t> qwenDenseLayers(const ModelConfig& cfg) {
  std::vector<int64_t> out;
  if (!cfg.has("mlp_only_layers")) return out;
  const nlohmann::json& list = cfg.json().at("mlp_only_layers");
  if (!list.is_array())
    throw ConfigError("'" + cfg.path() + "': mlp_only_layers must be a list of layer indices");
  for (const auto& v : list) {
    if (!v.is_number_integer())
      throw ConfigError("'" + cfg.path() + "': mlp_only_layers entry " + v.dump() + " is not a layer index");
    out.push_back(v.get<int64_t>());
  }
  return out;
}
}  // namespace

void useQwenSparseLayers(RotaryDecoderSpec& spec, const ModelConfig& cfg, const MoeSpec& moe) {
  spec.experts = static_cast<int>(moe.experts);
  spec.expertsPerToken = static_cast<int>(moe.topK);
  const int64_t step = cfg.optIntIn("decoder_sparse_step", 1, 1, kMaxLayers);
  const std::vector<int64_t> dense = qwenDenseLayers(cfg);
  const int64_t hidden = cfg.requireIntIn("hidden_size", 1, kMaxWidth);
  spec.feedForward = [moe, hidden, step, dense](WeightStore& w, const std::string& prefix, int layer,
                                                const at::TensorOptions& to) -> std::unique_ptr<FeedForwardBlock> {
    if (std::count(dense.begin(), dense.end(), layer) || (layer + 1) % step != 0) return nullptr;
    return makeMoeBlock(moe, w, prefix, hidden, to);
  };
}

namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "qwen2_moe";
  spec.architecture = "Qwen2MoeForCausalLM";
  spec.qkvBias = cfg.optBool("qkv_bias", true);
  spec.activation = cfg.optString("hidden_act", "silu");
  const int64_t layers = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
  if (cfg.optBool("use_sliding_window", false))
    spec.slidingWindows =
        slidingWindowsFrom(cfg, "sliding_window", layers, cfg.optInt("max_window_layers", 28));
  MoeSpec moe;
  moe.experts = cfg.optIntIn("num_experts", 0, 0, kMaxHeads);
  if (moe.experts > 0) {
    moe.topK = cfg.requireIntIn("num_experts_per_tok", 1, moe.experts);
    moe.intermediate = cfg.requireIntIn("moe_intermediate_size", 1, kMaxWidth);
    moe.activation = spec.activation;
    moe.normalizeTopK = cfg.optBool("norm_topk_prob", false);
    moe.sharedIntermediate = cfg.optIntIn("shared_expert_intermediate_size", 0, 0, kMaxWidth);
    if (moe.sharedIntermediate > 0) {
      moe.sharedName = "mlp.shared_expert";
      moe.sharedGateName = "mlp.shared_expert_gate";
    }
    useQwenSparseLayers(spec, cfg, moe);
  }
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"qwen2_moe", "text", "Qwen2-MoE decoder (Qwen2MoeForCausalLM, top-k experts + gated shared expert)",
     build});

}  // namespace
}  // namespace attnscope
