#pragma once
// Building blocks shared by the model family files (internal to core).

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/silu.h>

#include <string>
#include <vector>

#include "attnscope/Model.h"
#include "attnscope/WeightStore.h"

namespace attnscope {

/// Upper bounds for the counts config.json gives (far above any released model, far below sizes that would exhaust
/// memory or loop for hours before the weights are checked against them).
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxWidth = int64_t(1) << 20;      ///< hidden, intermediate and head sizes
constexpr int64_t kMaxVocab = int64_t(1) << 23;
constexpr int64_t kMaxPositions = int64_t(1) << 24;

/// Class names of a classifier with \p n outputs: config's id2label when it has exactly n entries, else HF's
/// default "LABEL_i".
inline std::vector<std::string> classLabels(const std::vector<std::string>& id2label, int64_t n) {
  if (static_cast<int64_t>(id2label.size()) == n) return id2label;
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back("LABEL_" + std::to_string(i));
  return out;
}

/// An AttentionCall for (stack, layer) carrying the run's hook and variant.
inline AttentionCall attentionCall(const ForwardOptions& options, const std::string& stack, int layer) {
  AttentionCall call;
  call.site = {stack, layer};
  call.hook = options.hook;
  call.variant = options.variant;
  return call;
}

/// Reports the hidden state a layer hands on (comparison metrics record it).
inline void layerDone(const ForwardOptions& options, const std::string& stack, int layer, const at::Tensor& h) {
  if (options.hook) options.hook->onLayerOutput({stack, layer}, h);
}

/// Reports what \p part of layer \p layer adds to the residual stream of \p stack (direct logit attribution).
inline void residualWrite(const ForwardOptions& options, const std::string& stack, int layer, ResidualPart part,
                          const at::Tensor& write) {
  if (options.hook) options.hook->onResidualWrite({stack, layer}, part, write);
}

/// Model::headWrites() for an output projection kept as [heads·d, out] (Linear::wt, Conv1D::w): each head's
/// [T, d] output times its d rows of the projection, without the bias. \p headOutputs [heads, T, d].
at::Tensor headWritesThrough(const at::Tensor& projection, const at::Tensor& headOutputs);

/// Model::frozenHeadLogits() of an RMSNorm head (x · rsqrt(mean(x²) + eps) ⊙ w, then the unembedding [V, H]) with
/// the rsqrt frozen at \p residual. No constant.
at::Tensor frozenRmsNormHead(const at::Tensor& parts, const at::Tensor& residual, double eps, const at::Tensor& w,
                             const at::Tensor& unembed, int64_t target, double* constant);

struct LayerNorm;
/// Model::frozenHeadLogits() of a LayerNorm head ((x − mean x) / σ ⊙ w + b with σ frozen at \p residual; \p norm may
/// be null: no final norm), then an optional bias-free projection \p projection ([in, out], OPT's project_out), then
/// the unembedding [V, E] with an optional bias [V]. The constant is the norm bias and the unembedding bias.
at::Tensor frozenLayerNormHead(const at::Tensor& parts, const at::Tensor& residual, const LayerNorm* norm,
                               const at::Tensor& projection, const at::Tensor& unembed, const at::Tensor& unembedBias,
                               int64_t target, double* constant);

/// nn.Linear: stored weight [out, in], optional bias [out]. The weight is kept transposed and
/// contiguous ([in, out]) so the product is one plain GEMM (measured ~15% faster than addmm with a
/// transposed view on OpenBLAS).
struct Linear {
  at::Tensor wt, b;  ///< wt: [in, out]
  at::Tensor operator()(const at::Tensor& x) const {
    return b.defined() ? at::addmm(b, x, wt) : at::mm(x, wt);  // [T, out]
  }
};

/// HF Conv1D (GPT-2): weight [in, out], y = x @ W + b.
struct Conv1D {
  at::Tensor w, b;
  at::Tensor operator()(const at::Tensor& x) const { return at::addmm(b, x, w); }  // [T, out]
};

/// LayerNorm with weight and bias.
struct LayerNorm {
  at::Tensor w, b;
  double eps = 1e-5;
  at::Tensor operator()(const at::Tensor& x) const {
    return at::layer_norm(x, {w.size(0)}, w, b, eps);  // [T, hidden]
  }
};

/// Model::postNorm() of a post-norm layer: \p attention follows the attention step's sum, \p mlp the MLP step's.
inline NormParameters postNormOf(ResidualPart part, const LayerNorm& attention, const LayerNorm& mlp) {
  const LayerNorm& n = part == ResidualPart::Mlp ? mlp : attention;
  return {n.w, n.b, n.eps};
}

inline Linear takeLinear(WeightStore& ws, const std::string& name, int64_t out, int64_t in, bool bias,
                         const at::TensorOptions& o) {
  Linear l;
  const at::Tensor w = ws.take(name + ".weight", {out, in}, o);  // [out, in]
  if (w.defined()) l.wt = w.t().contiguous();                     // [in, out]
  if (bias) l.b = ws.take(name + ".bias", {out}, o);
  return l;
}

inline Conv1D takeConv1D(WeightStore& ws, const std::string& name, int64_t in, int64_t out,
                         const at::TensorOptions& o) {
  return {ws.take(name + ".weight", {in, out}, o), ws.take(name + ".bias", {out}, o)};
}

inline LayerNorm takeLayerNorm(WeightStore& ws, const std::string& weightName, const std::string& biasName,
                               int64_t dim, double eps, const at::TensorOptions& o) {
  return {ws.take(weightName, {dim}, o), ws.take(biasName, {dim}, o), eps};
}

/// [T, heads*d] -> [heads, T, d]
/// The rows of the final hidden state \p h [T, H] the output head is applied to: all, or the last one when the
/// run asks for the last position's logits only.
inline at::Tensor logitRows(const at::Tensor& h, const ForwardOptions& options) {
  return options.lastLogitsOnly ? h.narrow(0, h.size(0) - 1, 1) : h;  // [T or 1, H]
}

inline at::Tensor splitHeads(const at::Tensor& x, int64_t heads) {
  return x.view({x.size(0), heads, x.size(1) / heads}).transpose(0, 1);  // [heads, T, d]
}

/// [heads, T, d] -> [T, heads*d]
inline at::Tensor mergeHeads(const at::Tensor& x) {
  return x.transpose(0, 1).reshape({x.size(1), x.size(0) * x.size(2)});  // [T, heads*d]
}

/// Cross-attention keys and values [heads, S, d] of layer \p layer from the encoder output \p enc: computed once and
/// kept in options.state, so incremental decoding steps reuse them.
std::pair<at::Tensor, at::Tensor> crossKeysValues(const ForwardOptions& options, size_t layer, const Linear& k,
                                                  const Linear& v, const at::Tensor& enc, int64_t heads);

/// The model card of a text model: type, class, sizes (kv heads = heads unless given).
void describeTextModel(ModelInfo& info, const std::string& type, const std::string& architecture, int64_t layers,
                       int64_t heads, int64_t hidden, int64_t vocab, int64_t positions, bool causalLm,
                       int64_t kvHeads = 0);

/// Applies an HF activation by name (hidden_act / activation_function).
at::Tensor applyActivation(const std::string& name, const at::Tensor& x);
/// Throws ConfigError when \p name is not an activation applyActivation() knows.
void checkActivation(const std::string& name, const std::string& configPath);

/// The first prefix (e.g. "bert.", "") under which \p probe exists in the store; "" if none.
std::string detectPrefix(const WeightStore& ws, const std::vector<std::string>& prefixes, const std::string& probe);

/// Validated batch-1 integer input: accepts [1, T] or [T]; returns [T] int64 on \p device.
/// Throws InputError naming \p name when absent (and \p required), mis-shaped, or out of [0, limit).
at::Tensor inputIds(const TensorMap& inputs, const std::string& name, int64_t limit, const at::Device& device,
                    bool required = true);

/// Key padding mask from attention_mask ([1, T] or [T], 1 = keep): bool [T], true = masked; undefined if absent
/// or all ones.
/// A float input checked against \p shape (-1 = any size; a leading batch dimension of 1 is dropped when
/// \p shape has one dimension less), converted to \p options. Throws InputError naming the input.
at::Tensor floatInput(const TensorMap& inputs, const std::string& name, const std::vector<int64_t>& shape,
                      const at::TensorOptions& options);

at::Tensor keyPaddingMask(const TensorMap& inputs, int64_t length, const at::Device& device);

/// Throws InputError when \p length exceeds the model's \p maxPositions.
void checkLength(int64_t length, int64_t maxPositions, const std::string& what);

/// Weight dtype for \p device: \p requested ("float32", "bfloat16", "float16"), or for "auto" float32 on the CPU and
/// the stored 16-bit dtype on CUDA. Throws InputError for any other \p requested.
at::TensorOptions weightOptions(const at::Device& device, const std::string& storedDtype,
                                const std::string& requested = "auto");

}  // namespace attnscope
