#include "attention/HeadScores.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/div.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/ne.h>
#include <ATen/ops/tanh.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/max.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/sum.h>

#include <algorithm>
#include <limits>

namespace attnscope::detail {

int64_t chunkRows(int64_t tk) { return std::max<int64_t>(16, (int64_t(1) << 22) / std::max<int64_t>(1, tk)); }

std::pair<int64_t, int64_t> visibleKeys(const ScoreMasks& masks, int64_t row0, int64_t n, int64_t col0, int64_t col1) {
  int64_t lo = col0, hi = col1;
  if (masks.causal) hi = std::min(hi, masks.past + row0 + n);
  if (masks.window > 0) lo = std::max(lo, masks.past + row0 - masks.window + 1);
  if (masks.chunk > 0 && n > 0) {
    lo = std::max(lo, (masks.past + row0) / masks.chunk * masks.chunk);
    hi = std::min(hi, ((masks.past + row0 + n - 1) / masks.chunk + 1) * masks.chunk);
  }
  return {lo, hi};
}

at::Tensor headScores(const at::Tensor& qRows, const at::Tensor& kCols, double scale, const at::Tensor& bias,
                      const ScoreMasks& masks, int64_t row0, int64_t lo, const at::Tensor& out) {
  const int64_t n = qRows.size(0), w = kCols.size(0);
  const at::Tensor q = scale == 1.0 ? qRows : qRows.mul(scale);  // [n, d]
  at::Tensor s = out;                                                // [n, w]
  if (s.defined())
    at::mm_out(s, q, kCols.t());  // [n, w], rows of the caller's stride (the GEMM's ldc)
  else
    s = at::matmul(q, kCols.t());  // [n, w]
  if (masks.softcap > 0) s.div_(masks.softcap).tanh_().mul_(masks.softcap);  // [n, w]
  if (bias.defined()) s.add_(bias);                                  // [n, w]
  const float minusInf = -std::numeric_limits<float>::infinity();
  // Row i (absolute past + row0 + i) must not see key lo + j > past + row0 + i: only the columns from D on can be
  // masked (the diagonal block when the keys end where the rows do), so only they are visited …
  const int64_t D = std::max<int64_t>(0, masks.past + row0 - lo + 1);
  if (masks.causal && D < w) {
    const int64_t first = masks.past + row0 - lo + 1;  // row 0's first masked column (may be < 0: shift the diagonal)
    s.narrow(1, D, w - D).masked_fill_(at::ones({n, w - D}, s.options().dtype(at::kBool)).triu_(first - D), minusInf);
  }
  // … nor key lo + j <= past + row0 + i − window: only the columns before E + n.
  const int64_t E = masks.past + row0 - masks.window - lo;
  if (masks.window > 0 && E > -n) {
    const int64_t cols = std::min(w, E + n);
    s.narrow(1, 0, cols).masked_fill_(at::ones({n, cols}, s.options().dtype(at::kBool)).tril_(E), minusInf);
  }
  if (masks.chunk > 0) {
    // Query p sees key j only when both are in the same chunk: j / chunk == p / chunk.
    const auto longs = s.options().dtype(at::kLong);
    const at::Tensor keyChunk = at::arange(lo, lo + w, longs).div_(masks.chunk, "floor");                 // [w]
    const at::Tensor rowChunk = at::arange(masks.past + row0, masks.past + row0 + n, longs).div_(masks.chunk, "floor");  // [n]
    s.masked_fill_(keyChunk.unsqueeze(0).ne(rowChunk.unsqueeze(1)), minusInf);  // [n, w]
  }
  if (masks.keyPadding.defined()) s.masked_fill_(masks.keyPadding.narrow(0, lo, w).view({1, w}), minusInf);
  return s;
}

at::Tensor rowLogSumExp(const at::Tensor& scores) {
  const at::Tensor m = std::get<0>(scores.max(-1, true));  // [n, 1]
  const at::Tensor sum = (scores - m).exp_().sum(-1);      // [n]
  return m.squeeze(-1).to(at::kDouble).add_(sum.to(at::kDouble).log_());  // [n]
}

at::Tensor rowLogSumExpFromSoftmax(const at::Tensor& scores, const at::Tensor& probs) {
  const auto [m, where] = scores.max(-1, true);                 // [n, 1] each
  const at::Tensor top = probs.gather(-1, where).to(at::kDouble);  // [n, 1]
  return m.to(at::kDouble).sub_(top.log_()).squeeze(-1);          // [n]
}

at::Tensor logProbabilitiesInPlace(at::Tensor& scores, const at::Tensor& lse) {
  const at::Tensor l = lse.to(at::kDouble).unsqueeze(-1);                 // [n, 1]
  const at::Tensor hiPart = l.to(at::kFloat);                              // [n, 1]
  const at::Tensor loPart = (l - hiPart.to(at::kDouble)).to(at::kFloat);   // [n, 1]
  return scores.sub_(hiPart).sub_(loPart);                                 // [n, w]
}

at::Tensor probabilitiesInPlace(at::Tensor& scores, const at::Tensor& lse) {
  return logProbabilitiesInPlace(scores, lse).exp_();  // [n, w]
}

}  // namespace attnscope::detail
