#include "attnscope/Analysis.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/matmul.h>

#include "attnscope/Errors.h"

namespace attnscope {

at::Tensor attentionRollout(const std::vector<at::Tensor>& layers) {
  if (layers.empty()) throw InputError("rollout needs the attention of every layer (none captured)");
  const int64_t T = layers.front().size(-1);
  at::Tensor rollout = at::eye(T, at::TensorOptions().dtype(at::kDouble));  // [T, T]
  for (const auto& a : layers) {
    if (a.dim() != 3 || a.size(1) != T || a.size(2) != T)
      throw InputError("rollout needs square [heads, T, T] self-attention in every layer");
    at::Tensor m = a.to(at::kDouble).mean(0) * 0.5 + at::eye(T, at::TensorOptions().dtype(at::kDouble)) * 0.5;  // [T, T]
    m = m / m.sum(-1, true);
    rollout = at::matmul(m, rollout);  // [T, T]
  }
  return rollout.to(at::kFloat);
}

}  // namespace attnscope
