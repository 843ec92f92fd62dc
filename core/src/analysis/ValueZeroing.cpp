#include "attnscope/ValueZeroing.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/cosine_similarity.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <map>

#include "attnscope/Attention.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Variant.h"

namespace attnscope {

namespace {
/// Zeroes the value vectors of one key position in every head of one layer: the dense output less that key's
/// share, probs[:, :, j] ⊗ v_j (the values are kept from compute(), which runs first on the same call).
class ZeroValueVariant : public AttentionVariant {
 public:
  ZeroValueVariant(std::string stack, int layer, int64_t key)
      : m_stack(std::move(stack)), m_layer(layer), m_key(key) {
    m_spec = "value-zeroing";
  }
  at::Tensor compute(const VariantCall& call, const at::Tensor&, const at::Tensor&, const at::Tensor& v,
                     at::Tensor*) const override {
    m_values = mine(call) ? v : at::Tensor();  // [heads, k, d]
    return {};                                 // the dense path
  }
  at::Tensor editOutput(const VariantCall& call, const at::Tensor& out, at::Tensor& probs) const override {
    if (!mine(call) || !m_values.defined()) return out;
    const int64_t j = m_key;
    const at::Tensor share =
        probs.select(2, j).unsqueeze(-1) * m_values.select(1, j).unsqueeze(1).to(probs.scalar_type());
    return out - share.to(out.scalar_type());  // [heads, q, d]
  }

 private:
  bool mine(const VariantCall& call) const {
    return call.site.stack == m_stack && call.site.layer == m_layer;
  }
  std::string m_stack;
  int m_layer;
  int64_t m_key;
  mutable at::Tensor m_values;
};

/// Keeps every layer output of one stack.
struct OutputRecorder : AttentionHook {
  explicit OutputRecorder(std::string stack) : stack(std::move(stack)) {}
  std::string stack;
  std::map<int, at::Tensor> out;  ///< [T, H] by layer
  bool wantsProbabilities(const AttentionSite&) const override { return false; }
  void onProbabilities(const AttentionSite&, at::Tensor&, int64_t) override {}
  void onLayerOutput(const AttentionSite& site, const at::Tensor& hidden) override {
    if (site.stack == stack) out[site.layer] = hidden.to(at::kDouble);
  }
};
}  // namespace

std::vector<double> valueZeroingAttribution(LoadedModel& m, const PreparedInput& input, int64_t position) {
  const ModelInfo& info = m.model->info();
  const std::string stack = m.model->inputStack();  // "self", or an encoder–decoder model's "encoder"
  if (stack.empty())
    throw InputError("value zeroing needs a self-attention stack over the input; this " + info.modelType +
                     " model has none");
  const int64_t T = static_cast<int64_t>(stackLabels(input, stack).first.size());
  if (T > 1024)
    throw InputError("value zeroing runs layers × positions forwards; " + std::to_string(T) +
                     " positions is more than the 1,024 it takes");
  if (position == -1 && !info.causal) position = 0;  // an encoder's summary position ([CLS])
  if (position < 0) position += T;
  if (position < 0 || position >= T)
    throw InputError("position " + std::to_string(position) + " is outside the input (0.." +
                     std::to_string(T - 1) + ")");
  c10::InferenceMode guard;
  const auto run = [&](const AttentionVariant* variant) {
    OutputRecorder rec(stack);
    ForwardOptions options;
    options.hook = &rec;
    options.variant = variant;
    m.model->forward(input.tensors, options);
    if (rec.out.empty() || rec.out.rbegin()->first + 1 != static_cast<int>(rec.out.size()) ||
        rec.out.begin()->second.size(0) != T)
      throw AttnScopeError("internal: the " + info.modelType + " model did not report every layer output");
    return rec.out;
  };
  const ZeroValueVariant none(stack, -1, 0);  // zeroes nothing: the same (dense) attention path as the others
  const std::map<int, at::Tensor> base = run(&none);
  const int layers = static_cast<int>(base.size());
  at::Tensor rollout = at::eye(T, at::TensorOptions().dtype(at::kDouble));  // [T, T]
  for (int l = 0; l < layers; ++l) {
    at::Tensor mix = at::zeros({T, T}, at::TensorOptions().dtype(at::kDouble));  // [T, T]: row i, column j
    for (int64_t j = 0; j < T; ++j) {
      ZeroValueVariant zero(stack, l, j);
      const at::Tensor changed = run(&zero).at(l);                                         // [T, H]
      mix.select(1, j).copy_(1.0 - at::cosine_similarity(base.at(l), changed, 1, 1e-12));  // [T]
    }
    mix = at::clamp_min(mix, 0.0);
    const at::Tensor sums = mix.sum(1, true);  // [T, 1]
    mix = mix / at::clamp_min(sums, 1e-300);   // rows sum to 1 (a row that never changed stays 0)
    rollout = at::matmul(mix, rollout);        // [T, T]
  }
  const at::Tensor row = rollout[position].contiguous();  // [T]
  return std::vector<double>(row.data_ptr<double>(), row.data_ptr<double>() + T);
}

}  // namespace attnscope
