// SmolLM3 (SmolLM3ForCausalLM), HF model_type "smollm3".
// The Llama graph with NoPE layers: config.json's no_rope_layers[l] is 1 where layer l applies RoPE and 0
// where q and k are used as projected (no positional encoding at all); without the list, layer l is NoPE iff
// (l + 1) % no_rope_layer_interval == 0 (4 by default). Windows from layer_types / use_sliding_window.
#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"
#include "engine/FamilyCommon.h"
#include "graphs/RotaryDecoder.h"

namespace attnscope {
namespace {

std::unique_ptr<Model> build(const ModelConfig& cfg, WeightStore& ws, const at::TensorOptions& o) {
  RotaryDecoderSpec spec;
  spec.modelType = "smollm3";
  spec.architecture = "SmolLM3ForCausalLM";
  spec.qkvBias = spec.outputBias = cfg.optBool("attention_bias", false);
  spec.mlpBias = cfg.optBool("mlp_bias", false);
  spec.activation = cfg.optString("hidden_act", "silu");
  spec.tiedByDefault = true;
  const int64_t layers = cfg.requireIntIn("num_hidden_layers", 1, kMaxLayers);
  if (cfg.has("no_rope_layers")) {
    const nlohmann::json& list = cfg.json().at("no_rope_layers");
    if (!list.is_array() || static_cast<int64_t>(list.size()) != layers)
      throw ConfigError("'" + cfg.path() + "': no_rope_layers must list one 0/1 entry per layer (" +
                        std::to_string(layers) + ")");
    for (const auto& v : list) {
      if (!v.is_number_integer() || (v.get<int64_t>() != 0 && v.get<int64_t>() != 1))
        throw ConfigError("'" + cfg.path() + "': no_rope_layers entry " + v.dump() + " is not 0 or 1");
      spec.noRope.push_back(v.get<int64_t>() == 0);
    }
  } else {
    const int64_t interval = cfg.optIntIn("no_rope_layer_interval", 4, 1, kMaxLayers);
    for (int64_t l = 0; l < layers; ++l) spec.noRope.push_back((l + 1) % interval == 0);
  }
  if (cfg.optBool("use_sliding_window", false) && cfg.has("sliding_window")) {
    const int64_t window = cfg.requireIntIn("sliding_window", 1, kMaxPositions);
    const std::vector<std::string> types = layerTypesFrom(cfg, layers);
    spec.slidingWindows = types.empty() ? slidingWindowsFrom(cfg, "sliding_window", layers,
                                                             cfg.optInt("max_window_layers", layers))
                                        : slidingWindowsFromTypes(types, window);
  }
  return makeRotaryDecoder(spec, cfg, ws, o);
}

const RegisterModelFamily kRegistration({"smollm3", "text",
                                         "SmolLM3 decoder (SmolLM3ForCausalLM, NoPE layers, GQA)", build});

}  // namespace
}  // namespace attnscope
