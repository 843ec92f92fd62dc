// Phi-3 (Phi3ForCausalLM), HF model_type "phi3".
// The Llama graph with fused projections: self_attn.qkv_proj rows are q (H·d) | k (KV·d) | v (KV·d) and
// mlp.gate_up_proj rows are gate | up (mlp = down(up · silu(gate))); partial_rotary_factor; the sliding window of
// config.json in every layer; longrope scaling for the 128k checkpoints.
#include "graphs/RotaryDecoder.h"
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "phi3";
  spec.architecture = "Phi3ForCausalLM";
  spec.fusedQkv = true;
  spec.fusedGateUp = true;
  spec.activation = cfg.optString("hidden_act", "silu");
  spec.rotaryFraction = cfg.optDouble("partial_rotary_factor", 1.0);
  if (!(spec.rotaryFraction > 0 && spec.rotaryFraction <= 1))
    throw ConfigError("'" + cfg.path() + "': partial_rotary_factor must be in (0, 1]");
  spec.slidingWindows = slidingWindowsFrom(cfg, "sliding_window", cfg.requireInt("num_hidden_layers"));
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"phi3", "text", "Phi-3 decoder (Phi3ForCausalLM, fused qkv and gate|up)",
                                         build});

}  // namespace
}  // namespace attnscope
