// Gemma 2 (Gemma2ForCausalLM), HF model_type "gemma2".
// Gemma's graph (embeddings × sqrt(hidden), (1 + w) RMSNorms in float32, GeGLU, tied head) with: the
// attention scale query_pre_attn_scalar^-0.5 (not head_dim^-0.5), attention logits soft-capped by
// attn_logit_softcapping before the masks, the final logits soft-capped by final_logit_softcapping, sandwich
// norms (post_attention_layernorm on the attention output, pre/post_feedforward_layernorm around the MLP),
// and alternating layers: layer_types when config.json has it, else the even layers slide (sliding_window)
// and the odd ones are global.
#include <cmath>

#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "families/SharedConfig.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {

double gemmaAttentionScale(const ModelConfig& cfg) {
  if (!cfg.has("query_pre_attn_scalar")) return 0;
  const double s = cfg.requireDouble("query_pre_attn_scalar");
  if (!(s > 0) || !std::isfinite(s))
    throw ConfigError("'" + cfg.path() + "': query_pre_attn_scalar must be a positive number");
  return 1.0 / std::sqrt(s);
}

namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "gemma2";
  spec.architecture = "Gemma2ForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.normOffset = 1.0;
  spec.scaleEmbeddings = true;
  spec.tiedByDefault = true;
  spec.activation = cfg.has("hidden_activation") ? cfg.requireString("hidden_activation")
                                                 : cfg.optString("hidden_act", "gelu_pytorch_tanh");
  spec.postSublayerNorms = true;
  spec.attentionScale = gemmaAttentionScale(cfg);
  spec.attentionSoftcap = cfg.optDouble("attn_logit_softcapping", 0);
  spec.finalSoftcap = cfg.optDouble("final_logit_softcapping", 0);
  const int64_t layers = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
  if (cfg.has("sliding_window")) {
    const int64_t window = cfg.requireIntIn("sliding_window", 1, kMaxPositions);
    std::vector<std::string> types = layerTypesFrom(cfg, layers);
    if (types.empty())
      for (int64_t l = 0; l < layers; ++l)
        types.push_back(l % 2 == 0 ? "sliding_attention" : "full_attention");
    spec.slidingWindows = slidingWindowsFromTypes(types, window);
  }
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration(
    {"gemma2", "text",
     "Gemma 2 decoder (Gemma2ForCausalLM, soft-capped attention, sliding/global, sandwich norms)", build});

}  // namespace
}  // namespace attnscope
