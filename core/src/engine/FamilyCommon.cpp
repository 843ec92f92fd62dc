#include "engine/FamilyCommon.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/dot.h>
#include <ATen/ops/mv.h>

#include <cmath>

#include "attnscope/Errors.h"

namespace attnscope {

at::Tensor applyActivation(const std::string& name, const at::Tensor& x) {
  if (name == "gelu") return at::gelu(x);                                                  // exact erf GELU
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return at::gelu(x, "tanh");
  if (name == "relu") return at::relu(x);
  if (name == "silu" || name == "swish") return at::silu(x);
  if (name == "quick_gelu") return x * at::sigmoid(x * 1.702);  // CLIP
  throw AttnScopeError("activation '" + name + "' is not supported");
}

void checkActivation(const std::string& name, const std::string& configPath) {
  static const char* const kKnown[] = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish",
                                       "quick_gelu"};
  for (const char* k : kKnown)
    if (name == k) return;
  throw ConfigError("'" + configPath + "': activation '" + name +
                    "' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, quick_gelu)");
}

std::pair<at::Tensor, at::Tensor> crossKeysValues(const ForwardOptions& options, size_t layer, const Linear& k,
                                                  const Linear& v, const at::Tensor& enc, int64_t heads) {
  const std::string kKey = "cross_k." + std::to_string(layer), vKey = "cross_v." + std::to_string(layer);
  if (options.state && options.state->count(kKey)) return {options.state->at(kKey), options.state->at(vKey)};
  at::Tensor ck = splitHeads(k(enc), heads);  // [heads, S, d]
  at::Tensor cv = splitHeads(v(enc), heads);  // [heads, S, d]
  if (options.state) (*options.state)[kKey] = ck, (*options.state)[vKey] = cv;
  return {ck, cv};
}

void describeTextModel(ModelInfo& info, const std::string& type, const std::string& architecture, int64_t layers,
                       int64_t heads, int64_t hidden, int64_t vocab, int64_t positions, bool causalLm,
                       int64_t kvHeads) {
  info.modelType = type;
  info.architecture = architecture;
  info.modality = "text";
  if (causalLm) {
    info.head = "lm";
    info.causal = true;
  }
  info.layers = static_cast<int>(layers);
  info.heads = static_cast<int>(heads);
  info.kvHeads = static_cast<int>(kvHeads > 0 ? kvHeads : heads);
  info.hidden = static_cast<int>(hidden);
  info.vocab = static_cast<int>(vocab);
  info.maxPositions = static_cast<int>(positions);
}

std::string detectPrefix(const WeightStore& ws, const std::vector<std::string>& prefixes, const std::string& probe) {
  for (const auto& p : prefixes)
    if (ws.has(p + probe)) return p;
  return prefixes.empty() ? "" : prefixes.front();
}

at::Tensor inputIds(const TensorMap& inputs, const std::string& name, int64_t limit, const at::Device& device,
                    bool required) {
  auto it = inputs.find(name);
  if (it == inputs.end() || !it->second.defined()) {
    if (required) throw InputError("the model needs the input '" + name + "'");
    return at::Tensor();
  }
  at::Tensor t = it->second;
  if (t.dim() == 2 && t.size(0) == 1) t = t[0];
  if (t.dim() != 1)
    throw InputError("input '" + name + "' must have shape [1, T] (batch size 1), got " + std::to_string(t.dim()) +
                     " dimensions");
  if (t.is_floating_point() || t.scalar_type() == at::kBool)
    throw InputError("input '" + name + "' must hold integers (I64 or I32)");
  t = t.to(at::kLong).cpu().contiguous();  // [T]
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (p[i] < 0 || p[i] >= limit)
      throw InputError("input '" + name + "' position " + std::to_string(i) + " holds " + std::to_string(p[i]) +
                       ", outside [0, " + std::to_string(limit) + ")");
  return t.to(device);  // [T]
}

at::Tensor floatInput(const TensorMap& inputs, const std::string& name, const std::vector<int64_t>& shape,
                      const at::TensorOptions& options) {
  auto it = inputs.find(name);
  if (it == inputs.end() || !it->second.defined()) throw InputError("the model needs the input '" + name + "'");
  at::Tensor t = it->second;
  if (t.dim() == static_cast<int64_t>(shape.size()) + 1 && t.size(0) == 1) t = t[0];
  auto describe = [&](at::IntArrayRef s) {
    std::string d = "[";
    for (size_t i = 0; i < s.size(); ++i) d += (i ? ", " : "") + (s[i] < 0 ? std::string("N") : std::to_string(s[i]));
    return d + "]";
  };
  bool ok = t.dim() == static_cast<int64_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || t.size(static_cast<int64_t>(i)) == shape[i];
  if (!ok)
    throw InputError("input '" + name + "' must have shape " + describe(shape) + " (batch size 1), got " +
                     describe(t.sizes()));
  if (!t.is_floating_point()) throw InputError("input '" + name + "' must hold floating-point values");
  return t.to(options);
}

at::Tensor keyPaddingMask(const TensorMap& inputs, int64_t length, const at::Device& device) {
  auto it = inputs.find("attention_mask");
  if (it == inputs.end() || !it->second.defined()) return at::Tensor();
  at::Tensor m = it->second;
  if (m.dim() == 2 && m.size(0) == 1) m = m[0];
  if (m.dim() != 1 || m.size(0) != length)
    throw InputError("input 'attention_mask' must have shape [1, " + std::to_string(length) + "]");
  at::Tensor masked = m.to(at::kLong).cpu().eq(0);  // [T] bool
  if (!masked.any().item<bool>()) return at::Tensor();
  if (masked.all().item<bool>()) throw InputError("input 'attention_mask' masks every token");
  return masked.to(device);
}

void checkLength(int64_t length, int64_t maxPositions, const std::string& what) {
  if (length == 0) throw InputError(what + " is empty: the model needs at least one token");
  if (maxPositions > 0 && length > maxPositions)
    throw InputError(what + " has " + std::to_string(length) + " tokens but the model accepts at most " +
                     std::to_string(maxPositions));
}

at::TensorOptions weightOptions(const at::Device& device, const std::string& storedDtype,
                                const std::string& requested) {
  at::ScalarType t = at::kFloat;
  if (requested == "float32" || requested == "f32") return at::TensorOptions().device(device).dtype(at::kFloat);
  if (requested == "bfloat16" || requested == "bf16") return at::TensorOptions().device(device).dtype(at::kBFloat16);
  if (requested == "float16" || requested == "f16") return at::TensorOptions().device(device).dtype(at::kHalf);
  if (requested != "auto" && !requested.empty())
    throw InputError("dtype '" + requested + "' is not one of auto, float32, bfloat16, float16");
  if (device.is_cuda()) {
    if (storedDtype == "F16") t = at::kHalf;
    else if (storedDtype == "BF16") t = at::kBFloat16;
  }
  return at::TensorOptions().device(device).dtype(t);
}

}  // namespace attnscope

namespace attnscope {

at::Tensor headWritesThrough(const at::Tensor& projection, const at::Tensor& headOutputs) {
  const int64_t heads = headOutputs.size(0), d = headOutputs.size(2);
  if (projection.size(0) != heads * d)
    throw AttnScopeError("internal: an output projection of " + std::to_string(projection.size(0)) + " rows for " +
                         std::to_string(heads) + " heads of " + std::to_string(d));
  const at::Tensor perHead = projection.reshape({heads, d, projection.size(1)});                // [heads, d, H]
  return at::bmm(headOutputs.to(projection.scalar_type()), perHead);                        // [heads, T, H]
}

namespace {
/// The unembedding row of \p target as float64 [E]; throws InputError when the id is outside the vocabulary.
at::Tensor unembedRow(const at::Tensor& unembed, int64_t target) {
  if (target < 0 || target >= unembed.size(0))
    throw InputError("target id " + std::to_string(target) + " is outside the vocabulary (0.." +
                     std::to_string(unembed.size(0) - 1) + ")");
  return unembed[target].to(at::kDouble);  // [E]
}
}  // namespace

at::Tensor frozenRmsNormHead(const at::Tensor& parts, const at::Tensor& residual, double eps, const at::Tensor& w,
                             const at::Tensor& unembed, int64_t target, double* constant) {
  const at::Tensor r = residual.to(at::kDouble);                         // [H]
  const double scale = 1.0 / std::sqrt(r.pow(2).mean().item<double>() + eps);
  const at::Tensor direction = unembedRow(unembed, target) * w.to(at::kDouble) * scale;  // [H]
  if (constant) *constant = 0;
  return at::mv(parts.to(at::kDouble), direction);  // [N]
}

at::Tensor frozenLayerNormHead(const at::Tensor& parts, const at::Tensor& residual, const LayerNorm* norm,
                               const at::Tensor& projection, const at::Tensor& unembed, const at::Tensor& unembedBias,
                               int64_t target, double* constant) {
  at::Tensor direction = unembedRow(unembed, target);                                          // [E]
  if (projection.defined()) direction = at::mv(projection.to(at::kDouble), direction);        // [H]
  double c = unembedBias.defined() ? unembedBias[target].item<double>() : 0.0;
  at::Tensor p = parts.to(at::kDouble);                                                        // [N, H]
  if (norm) {
    const at::Tensor r = residual.to(at::kDouble);                                             // [H]
    const double sigma = std::sqrt(r.var(/*unbiased=*/false).item<double>() + norm->eps);
    c += at::dot(norm->b.to(at::kDouble), direction).item<double>();
    direction = direction * norm->w.to(at::kDouble) / sigma;                                   // [H]
    p = p - p.mean(-1, true);                                                                  // [N, H]
  }
  if (constant) *constant = c;
  return at::mv(p, direction);  // [N]
}

}  // namespace attnscope
