#pragma once
// The Llama-shaped decoder that Llama, Qwen2, Mistral, Gemma and Phi-3 share (as llama.cpp's llm_build_llama
// serves several architectures): RMSNorm pre-norm blocks, rotary attention with grouped-query heads, a gated MLP,
// a final norm and an LM head. Each family file describes its differences in a RotaryDecoderSpec and registers a
// factory; the forward pass and the attention call are written once, here. Internal to core.

#include <memory>
#include <string>
#include <vector>

#include "attnscope/Model.h"

namespace attnscope {

class ModelConfig;
class WeightStore;

/// What distinguishes one Llama-shaped family from another.
struct RotaryDecoderSpec {
  std::string modelType;     ///< HF model_type ("qwen2")
  std::string architecture;  ///< the class built ("Qwen2ForCausalLM")
  bool qkvBias = false;      ///< q/k/v projections have biases (Qwen2; Llama's attention_bias)
  bool outputBias = false;   ///< o_proj has a bias (Llama's attention_bias)
  bool mlpBias = false;      ///< gate/up/down have biases (Llama's mlp_bias)
  bool fusedQkv = false;     ///< one self_attn.qkv_proj whose rows are q (H·d) | k (KV·d) | v (KV·d) (Phi-3)
  bool fusedGateUp = false;  ///< one mlp.gate_up_proj whose rows are gate | up (Phi-3)
  double normOffset = 0;     ///< RMSNorm multiplies by (offset + w): 1 for Gemma
  bool scaleEmbeddings = false;  ///< embeddings × sqrt(hidden), rounded to the compute dtype (Gemma)
  bool tiedByDefault = false;    ///< tie_word_embeddings when config.json does not say
  std::string activation;        ///< the MLP activation (hidden_act / hidden_activation)
  double rotaryFraction = 1.0;   ///< share of each head's channels that rotate (Phi-3 partial_rotary_factor)
  /// Per-layer sliding window (0 = full causal attention); empty = none anywhere.
  std::vector<int64_t> slidingWindows;
};

/// Builds the decoder for \p spec from the shared Llama-style config fields (hidden_size, num_hidden_layers,
/// num_attention_heads, num_key_value_heads, head_dim, intermediate_size, vocab_size, max_position_embeddings,
/// rms_norm_eps, rope_theta, rope_scaling, tie_word_embeddings). Throws ConfigError naming the field when they
/// are missing or inconsistent.
std::unique_ptr<Model> makeRotaryDecoder(const RotaryDecoderSpec& spec, const ModelConfig& cfg, WeightStore& ws,
                                         const at::TensorOptions& options);

/// Reads config.json's sliding window for \p layers layers: \p key (an integer or null) applied to every layer
/// at or above \p firstLayer; an empty vector when the window is null. Throws ConfigError when not positive.
std::vector<int64_t> slidingWindowsFrom(const ModelConfig& cfg, const std::string& key, int64_t layers,
                                        int64_t firstLayer = 0);

}  // namespace attnscope
