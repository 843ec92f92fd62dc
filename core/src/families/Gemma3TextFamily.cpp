// Gemma 3's language model (Gemma3ForCausalLM), HF model_type "gemma3_text".
// Gemma 2's graph (sandwich norms, (1 + w) RMSNorms, query_pre_attn_scalar, optional soft-caps) with a
// per-head (1 + w) RMSNorm on q and k before RoPE, and two rotaries: the sliding layers use
// rope_local_base_freq with the default rope (no scaling), the global layers rope_theta with rope_scaling.
// Layer types: config.json's layer_types, else layer l slides iff (l + 1) % sliding_window_pattern != 0
// (pattern 6 by default: five local, one global).
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "families/SharedConfig.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {

namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "gemma3_text";
  spec.architecture = "Gemma3ForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.normOffset = 1.0;
  spec.scaleEmbeddings = true;
  spec.tiedByDefault = true;
  spec.activation = cfg.has("hidden_activation") ? cfg.requireString("hidden_activation")
                                                 : cfg.optString("hidden_act", "gelu_pytorch_tanh");
  spec.postSublayerNorms = true;
  spec.qkNorm = QkNorm::PerHead;
  spec.attentionScale = gemmaAttentionScale(cfg);
  spec.attentionSoftcap = cfg.optDouble("attn_logit_softcapping", 0);
  spec.finalSoftcap = cfg.optDouble("final_logit_softcapping", 0);
  const int64_t layers = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
  if (cfg.has("sliding_window")) {
    const int64_t window = cfg.requireIntIn("sliding_window", 1, kMaxPositions);
    std::vector<std::string> types = layerTypesFrom(cfg, layers);
    if (types.empty()) {
      const int64_t pattern = cfg.optIntIn("sliding_window_pattern", 6, 1, kMaxLayers);
      for (int64_t l = 0; l < layers; ++l)
        types.push_back((l + 1) % pattern != 0 ? "sliding_attention" : "full_attention");
    }
    spec.slidingWindows = slidingWindowsFromTypes(types, window);
  }
  spec.localRotaryConfig = {{"rope_theta", cfg.optDouble("rope_local_base_freq", 10000.0)},
                            {"rope_scaling", nullptr}};
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"gemma3_text", "text",
     "Gemma 3 decoder (Gemma3ForCausalLM, q/k norm, local/global rotary, sliding/global, sandwich norms)",
     build});

}  // namespace
}  // namespace attnscope
