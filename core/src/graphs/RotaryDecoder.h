#pragma once
// The Llama-shaped decoder that Llama, Qwen2, Mistral, Gemma and Phi-3 share (as llama.cpp's llm_build_llama
// serves several architectures): RMSNorm pre-norm blocks, rotary attention with grouped-query heads, a gated MLP,
// a final norm and an LM head. Each family file describes its differences in a RotaryDecoderSpec and registers a
// factory; the forward pass and the attention call are written once, here. Internal to core.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attnscope/Model.h"

namespace attnscope {

class ModelConfig;
class WeightStore;

struct ForwardOptions;

/// A decoder layer's feed-forward block when it is not the dense gated MLP (mixture-of-experts layers): built per
/// layer by the family, called with the normed hidden state [T, H]; returns [T, H] and reports its routing through
/// the run's hook (AttentionHook::onRouting).
class FeedForwardBlock {
 public:
  virtual ~FeedForwardBlock() = default;
  virtual at::Tensor forward(const at::Tensor& x, const ForwardOptions& options, int layer) const = 0;
};

/// How q and k are normalised before the rotary embedding.
enum class QkNorm {
  None,
  PerHead,    ///< RMSNorm over each head's channels, weight [head_dim] (Qwen3, Gemma-3: self_attn.q_norm / k_norm)
  Projection  ///< RMSNorm over the whole projection, weight [heads·head_dim] (OLMo-2)
};

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

  // 2024–26 decoders.
  QkNorm qkNorm = QkNorm::None;
  /// q·kᵀ multiplier; 0 = head_dim^-0.5 (Gemma-2: query_pre_attn_scalar^-0.5; Granite: attention_multiplier).
  double attentionScale = 0;
  double attentionSoftcap = 0;  ///< Gemma-2's attn_logit_softcapping (0 = none)
  double finalSoftcap = 0;      ///< Gemma-2's final_logit_softcapping on the logits (0 = none)
  double embeddingMultiplier = 1.0;  ///< embeddings × this (Granite's embedding_multiplier)
  double residualMultiplier = 1.0;   ///< each sublayer's write × this before it is added (Granite)
  double logitsDivisor = 1.0;        ///< logits ÷ this (Granite's logits_scaling)
  /// Pre-sublayer norms (input_layernorm, post_attention_layernorm before the MLP); false for OLMo-2, whose only
  /// norms follow the sublayers.
  bool preNorms = true;
  /// Norms applied to each sublayer's output before the residual sum: Gemma-2/3's post_attention_layernorm and
  /// post_feedforward_layernorm (with pre_feedforward_layernorm before the MLP), OLMo-2's post_attention_layernorm
  /// and post_feedforward_layernorm.
  bool postSublayerNorms = false;
  /// Per-layer: no rotary embedding at all (SmolLM3 / Llama 4 NoPE layers); empty = every layer rotates.
  std::vector<bool> noRope;
  /// Per-layer chunked attention size (Llama 4); empty = none.
  std::vector<int64_t> chunkSizes;
  /// Rotary of the sliding-window layers when they differ from the global ones (Gemma-3: rope_local_base_freq,
  /// no rope_scaling): a config overriding rope_theta / rope_scaling; empty = the same rotary for every layer.
  nlohmann::json localRotaryConfig;
  /// LayerNorm (weight and bias, eps = norm_epsilon) instead of RMSNorm everywhere (Starcoder2).
  bool layerNorms = false;
  /// The MLP is up → activation → down without a gate (Starcoder2: mlp.c_fc, mlp.c_proj), biases per mlpBias.
  bool gatedMlp = true;
  std::string mlpUpName = "mlp.c_fc", mlpDownName = "mlp.c_proj";  ///< the ungated MLP's weights
  /// Learned sink logits per head (gpt-oss: self_attn.sinks).
  bool attentionSinks = false;
  /// The feed-forward block of a layer when it is not the dense gated MLP (MoE): null = dense everywhere; when set,
  /// called for every layer with the layer prefix ("model.layers.3.") and returns null for a dense layer.
  std::function<std::unique_ptr<FeedForwardBlock>(WeightStore& ws, const std::string& layerPrefix, int layer,
                                                  const at::TensorOptions& o)>
      feedForward;
  /// MoE shape for the model card (experts, experts per token, routed layers); filled by the family.
  int experts = 0, expertsPerToken = 0;
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

/// config.json's `layer_types` (transformers ≥ 4.53: "sliding_attention" / "full_attention" / "chunked_attention"
/// per layer) when present and of \p layers entries; empty otherwise. Throws ConfigError for a wrong length or an
/// unknown entry.
std::vector<std::string> layerTypesFrom(const ModelConfig& cfg, int64_t layers);

/// Per-layer windows from layer types: \p window for "sliding_attention", 0 for the others.
std::vector<int64_t> slidingWindowsFromTypes(const std::vector<std::string>& types, int64_t window);

}  // namespace attnscope
