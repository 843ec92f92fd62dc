#pragma once
// config.json readings that several family files share (a family and its MoE sibling, or two generations of
// one family). Internal to core.

#include <cstdint>
#include <vector>

namespace attnscope {

class ModelConfig;
struct MoeSpec;
struct RotaryDecoderSpec;

/// Qwen3Config's per-layer windows (Qwen3, Qwen3-MoE): config.json's layer_types when present, else the
/// layers at or above max_window_layers when use_sliding_window is true; empty (no window) when
/// use_sliding_window is false.
std::vector<int64_t> qwen3SlidingWindows(const ModelConfig& cfg);

/// Gemma-2/3's attention scale: query_pre_attn_scalar^-0.5; 0 (= head_dim^-0.5) when config.json lacks it.
/// Throws ConfigError when it is not a positive number.
double gemmaAttentionScale(const ModelConfig& cfg);

/// Qwen2-MoE / Qwen3-MoE's sparse layers: layer l uses the experts of \p moe unless it is in mlp_only_layers or
/// (l + 1) % decoder_sparse_step != 0 (those keep the dense MLP). Sets \p spec's feed-forward factory and MoE shape.
/// Throws ConfigError when mlp_only_layers is not a list of integers.
void useQwenSparseLayers(RotaryDecoderSpec& spec, const ModelConfig& cfg, const MoeSpec& moe);

}  // namespace attnscope
