#pragma once
// Rotary position embeddings as Hugging Face computes them (modeling_rope_utils.py): the inverse frequencies and
// the attention factor for every rope_scaling type real checkpoints use, and the rotate-half application on the
// first `dim` channels of each head (partial rotary: GPT-NeoX rotary_pct, Phi-3 partial_rotary_factor).
// Internal to core.

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace attnscope {

class ModelConfig;

/// The cos/sin tables of one forward, [T, dim] each, already multiplied by the attention factor.
struct RotaryTables {
  at::Tensor cos, sin;  ///< [T, dim]
};

/// One model's rotary embedding: type, rotated width and the parameters of its rope_scaling.
class Rotary {
 public:
  /// Reads rope_theta (or \p thetaKey's fallbacks), rope_scaling and max_position_embeddings from \p cfg for heads
  /// of \p headDim channels of which \p rotaryDim rotate. Throws ConfigError naming the file and the field for an
  /// unknown rope_scaling type, a missing or invalid parameter, a non-positive theta, or an odd rotary width.
  static Rotary fromConfig(const ModelConfig& cfg, int64_t headDim, int64_t rotaryDim);

  /// The rope_scaling type ("default", "linear", "dynamic", "llama3", "yarn", "longrope").
  const std::string& type() const { return m_type; }
  /// Channels rotated per head (even).
  int64_t dim() const { return m_dim; }

  /// Inverse frequencies (\c dim/2 values, float32-rounded as HF computes them) for a forward whose largest
  /// position is \p seqLen - 1 ("dynamic" and "longrope" depend on it), and the factor cos/sin are multiplied by.
  std::vector<float> inverseFrequencies(int64_t seqLen, double* attentionFactor = nullptr) const;

  /// Tables for positions offset..offset+T-1 in \p dtype on \p device (computed in float32).
  RotaryTables tables(int64_t offset, int64_t length, const at::Device& device, at::ScalarType dtype) const;

  /// x·cos + rotate_half(x)·sin on the first dim() channels of \p x [heads, T, headDim]; the rest pass through.
  at::Tensor apply(const at::Tensor& x, const RotaryTables& t) const;

 private:
  std::string m_type = "default";
  int64_t m_dim = 0;
  double m_theta = 10000.0;
  double m_factor = 1.0;
  int64_t m_maxPositions = 0;
  int64_t m_originalMax = 0;  ///< config.original_max_position_embeddings (Phi-3 longrope), 0 when absent
  nlohmann::json m_scaling;
  std::vector<double> m_base;  ///< inverse frequencies of the static types (all but dynamic / longrope)
  double m_attentionFactor = 1.0;
};

}  // namespace attnscope
