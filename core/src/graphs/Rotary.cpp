#include "graphs/Rotary.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/from_blob.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "attnscope/Errors.h"
#include "attnscope/ModelConfig.h"

namespace attnscope {

namespace {

/// rotate_half: cat(-x2, x1) over the last dimension.
at::Tensor rotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);  // [heads, T, d]
}

/// theta^(-2i/dim) for i < dim/2, the exponent rounded to float32 as HF's arange(0, dim, 2).float() / dim is.
std::vector<double> defaultInverse(double theta, int64_t dim) {
  std::vector<double> out(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    out[static_cast<size_t>(i)] = 1.0 / std::pow(theta, static_cast<double>(exponent));
  }
  return out;
}

double yarnMscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

}  // namespace

Rotary Rotary::fromConfig(const ModelConfig& cfg, int64_t headDim, int64_t rotaryDim) {
  Rotary r;
  const std::string& path = cfg.path();
  auto fail = [&](const std::string& what) -> void { throw ConfigError("'" + path + "': " + what); };
  r.m_dim = rotaryDim;
  if (rotaryDim <= 0 || rotaryDim > headDim || rotaryDim % 2 != 0)
    fail("the rotary width " + std::to_string(rotaryDim) + " must be even and within the head size " +
         std::to_string(headDim));
  r.m_theta = cfg.has("rope_theta") ? cfg.requireDouble("rope_theta") : cfg.optDouble("rotary_emb_base", 10000.0);
  if (!(r.m_theta > 1.0) || !std::isfinite(r.m_theta))
    fail("rope_theta must be a finite number above 1, got " + std::to_string(r.m_theta));
  r.m_maxPositions = cfg.optInt("max_position_embeddings", 2048);
  if (r.m_maxPositions <= 0) fail("max_position_embeddings must be positive");
  r.m_originalMax = cfg.optInt("original_max_position_embeddings", 0);
  r.m_base = defaultInverse(r.m_theta, r.m_dim);
  if (!cfg.has("rope_scaling")) return r;
  const nlohmann::json& rs = cfg.json()["rope_scaling"];
  if (!rs.is_object()) fail("rope_scaling must be an object or null");
  auto field = [&](const char* key) -> const nlohmann::json* {
    return rs.contains(key) && !rs[key].is_null() ? &rs[key] : nullptr;
  };
  auto number = [&](const char* key, std::optional<double> fallback) -> double {
    const nlohmann::json* v = field(key);
    if (!v) {
      if (fallback) return *fallback;
      fail("rope_scaling of type '" + r.m_type + "' lacks the field '" + key + "' (a number)");
    }
    if (!v->is_number() || !std::isfinite(v->get<double>()))
      fail(std::string("rope_scaling.") + key + " must be a number");
    return v->get<double>();
  };
  const nlohmann::json* typeField = field("rope_type") ? field("rope_type") : field("type");
  if (typeField && !typeField->is_string()) fail("rope_scaling.rope_type must be a string");
  r.m_type = typeField ? typeField->get<std::string>() : "default";
  if (r.m_type == "su") r.m_type = "longrope";  // the name Phi-3 checkpoints first used
  r.m_scaling = rs;
  if (r.m_type == "default") return r;
  if (r.m_type != "linear" && r.m_type != "dynamic" && r.m_type != "llama3" && r.m_type != "yarn" &&
      r.m_type != "longrope")
    fail("rope_scaling type '" + r.m_type + "' is not supported (supported: default, linear, dynamic, llama3, " +
         "yarn, longrope)");
  const bool factorOptional = r.m_type == "longrope";
  r.m_factor = number("factor", factorOptional ? std::optional<double>(1.0) : std::nullopt);
  if (!(r.m_factor > 0)) fail("rope_scaling.factor must be positive");

  if (r.m_type == "linear") {
    for (double& f : r.m_base) f /= r.m_factor;
  } else if (r.m_type == "llama3") {
    const double low = number("low_freq_factor", std::nullopt), high = number("high_freq_factor", std::nullopt);
    const double oldLen = number("original_max_position_embeddings", std::nullopt);
    if (!(high > low) || !(low > 0) || !(oldLen > 0))
      fail("rope_scaling (llama3) needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings "
           "> 0");
    const double lowWavelen = oldLen / low, highWavelen = oldLen / high;
    for (double& f : r.m_base) {
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > lowWavelen) {
        f = f / r.m_factor;
      } else if (wavelen >= highWavelen) {
        const double smooth = (oldLen / wavelen - low) / (high - low);
        f = (1.0 - smooth) * f / r.m_factor + smooth * f;
      }
    }
  } else if (r.m_type == "yarn") {
    // The context the model was trained on: rope_scaling.original_max_position_embeddings when given.
    const double original = number("original_max_position_embeddings", static_cast<double>(r.m_maxPositions));
    if (!(original > 0)) fail("rope_scaling.original_max_position_embeddings must be positive");
    if (field("attention_factor")) {
      r.m_attentionFactor = number("attention_factor", std::nullopt);
    } else if (field("mscale") && field("mscale_all_dim") && number("mscale", 0.0) != 0 &&
               number("mscale_all_dim", 0.0) != 0) {
      r.m_attentionFactor =
          yarnMscale(r.m_factor, number("mscale", 0.0)) / yarnMscale(r.m_factor, number("mscale_all_dim", 0.0));
    } else {
      r.m_attentionFactor = yarnMscale(r.m_factor, 1.0);
    }
    const double betaFast = field("beta_fast") ? number("beta_fast", 32.0) : 32.0;
    const double betaSlow = field("beta_slow") ? number("beta_slow", 1.0) : 1.0;
    bool truncate = true;
    if (const nlohmann::json* t = field("truncate")) {
      if (!t->is_boolean()) fail("rope_scaling.truncate must be true or false");
      truncate = t->get<bool>();
    }
    const double dim = static_cast<double>(r.m_dim);
    auto correctionDim = [&](double rotations) {
      return (dim * std::log(original / (rotations * 2.0 * M_PI))) / (2.0 * std::log(r.m_theta));
    };
    double low = correctionDim(betaFast), high = correctionDim(betaSlow);
    if (truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, dim - 1);
    if (low == high) high += 0.001;
    for (size_t i = 0; i < r.m_base.size(); ++i) {
      // The ramp is evaluated in float32 in HF (arange(dim//2, float32)).
      const float ramp = std::clamp(static_cast<float>((static_cast<double>(i) - low) / (high - low)), 0.0f, 1.0f);
      const double extrapolation = 1.0 - ramp;
      const double inter = r.m_base[i] / r.m_factor, extra = r.m_base[i];
      r.m_base[i] = inter * (1.0 - extrapolation) + extra * extrapolation;
    }
  } else if (r.m_type == "longrope") {
    for (const char* key : {"long_factor", "short_factor"}) {
      const nlohmann::json* v = field(key);
      if (!v || !v->is_array() || static_cast<int64_t>(v->size()) != r.m_dim / 2)
        fail(std::string("rope_scaling.") + key + " must be a list of " + std::to_string(r.m_dim / 2) +
             " numbers (one per rotary frequency)");
      for (const auto& e : *v)
        if (!e.is_number() || !(e.get<double>() > 0)) fail(std::string("rope_scaling.") + key + " must hold positive numbers");
    }
  }
  return r;
}

std::vector<float> Rotary::inverseFrequencies(int64_t seqLen, double* attentionFactor) const {
  std::vector<double> inv = m_base;
  double factor = m_attentionFactor;
  if (m_type == "dynamic" && seqLen > m_maxPositions) {
    const double d = static_cast<double>(m_dim);
    const double base =
        m_theta * std::pow(m_factor * static_cast<double>(seqLen) / static_cast<double>(m_maxPositions) -
                               (m_factor - 1.0),
                           d / (d - 2.0));
    inv = defaultInverse(base, m_dim);
  } else if (m_type == "longrope") {
    // The trained context: config.original_max_position_embeddings (Phi-3), else rope_scaling's, else max positions;
    // the scale then is max_position_embeddings / original.
    double original = static_cast<double>(m_maxPositions), scale = m_factor;
    if (m_scaling.contains("original_max_position_embeddings") &&
        m_scaling["original_max_position_embeddings"].is_number())
      original = m_scaling["original_max_position_embeddings"].get<double>();
    if (m_originalMax > 0) {
      original = static_cast<double>(m_originalMax);
      scale = static_cast<double>(m_maxPositions) / original;
    }
    if (m_scaling.contains("attention_factor") && m_scaling["attention_factor"].is_number())
      factor = m_scaling["attention_factor"].get<double>();
    else
      factor = scale <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(scale) / std::log(original));
    const nlohmann::json& ext = m_scaling[static_cast<double>(seqLen) > original ? "long_factor" : "short_factor"];
    for (size_t i = 0; i < inv.size(); ++i) inv[i] /= ext[i].get<double>();
  }
  if (attentionFactor) *attentionFactor = factor;
  return std::vector<float>(inv.begin(), inv.end());
}

RotaryTables Rotary::tables(int64_t offset, int64_t length, const at::Device& device, at::ScalarType dtype) const {
  double factor = 1.0;
  std::vector<float> inv = inverseFrequencies(offset + length, &factor);
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor invT =
      at::from_blob(inv.data(), {static_cast<int64_t>(inv.size())}, f32).clone().to(device);  // [dim/2]
  const at::Tensor pos = at::arange(offset, offset + length, f32.device(device));         // [T]
  const at::Tensor freqs = pos.unsqueeze(1) * invT.unsqueeze(0);                              // [T, dim/2]
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                                         // [T, dim]
  at::Tensor cos = emb.cos(), sin = emb.sin();                                                // [T, dim]
  if (factor != 1.0) {
    cos = cos * factor;  // [T, dim]
    sin = sin * factor;  // [T, dim]
  }
  return {cos.to(dtype), sin.to(dtype)};
}

at::Tensor Rotary::apply(const at::Tensor& x, const RotaryTables& t) const {
  if (x.size(-1) == m_dim) return x * t.cos + rotateHalf(x) * t.sin;  // [heads, T, d]
  const at::Tensor rot = x.narrow(-1, 0, m_dim);                                                  // [heads, T, r]
  const at::Tensor pass = x.narrow(-1, m_dim, x.size(-1) - m_dim);                                // [heads, T, d-r]
  return at::cat({rot * t.cos + rotateHalf(rot) * t.sin, pass}, -1);                              // [heads, T, d]
}

}  // namespace attnscope
