#pragma once
// The arithmetic shared by the chunked forward and the on-demand tiles of a queries/keys capture: the same
// expressions on the same row blocks give the same float32 results, so a head recomputed from stored queries, keys
// and log-sum-exp equals the probabilities the forward computed (not only to within rounding).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

namespace attnscope::detail {

/// What masks a head's scores.
struct ScoreMasks {
  bool causal = false;
  int64_t window = 0;     ///< sliding window (0 = none)
  int64_t past = 0;       ///< absolute position of query row 0
  at::Tensor keyPadding;  ///< optional bool [k]
  int64_t chunk = 0;      ///< chunked attention (0 = none): only keys of the query's chunk of this many positions
  double softcap = 0;     ///< > 0: the scaled scores become softcap·tanh(s / softcap) before the bias and the masks
};

/// Query rows per block for \p tk keys (~16 MB of float32 scores per head and block).
int64_t chunkRows(int64_t tk);

/// The keys [lo, hi) that query rows [row0, row0 + n) can see at all, within [col0, col1) (hi <= lo: none).
std::pair<int64_t, int64_t> visibleKeys(const ScoreMasks& masks, int64_t row0, int64_t n, int64_t col0, int64_t col1);

/// Scores of one head: (\p qRows · scale) · \p kColsᵀ (soft-capped when masks.softcap > 0) + \p bias, −inf where
/// masked. \p qRows [n, d] are query rows
/// row0…, \p kCols [w, d] keys lo…, \p bias optional [n, w]. Returns float32 [n, w]: \p out when it is given (an
/// [n, w] view whose rows may be longer, e.g. the visible columns of a wider row buffer; written in place, the same
/// GEMM), else a new tensor.
at::Tensor headScores(const at::Tensor& qRows, const at::Tensor& kCols, double scale, const at::Tensor& bias,
                      const ScoreMasks& masks, int64_t row0, int64_t lo, const at::Tensor& out = at::Tensor());

/// Each row's log Σ exp(s) in float64 [n] (max + log Σ exp(s − max)); any leading dimensions are kept.
at::Tensor rowLogSumExp(const at::Tensor& scores);

/// The same log Σ exp(s) read off a row's softmax \p probs of \p scores ([…, n, w]): max s − log p at the max, in
/// float64 [n] — one read-only pass instead of another exponential; within ~1e-7 of rowLogSumExp (the float32
/// rounding of the largest probability, which is at least 1/w).
at::Tensor rowLogSumExpFromSoftmax(const at::Tensor& scores, const at::Tensor& probs);

/// exp(s − lse) computed in place in \p scores ([…, n, w]), \p lse float64 [… , n] split into two float32 parts.
at::Tensor probabilitiesInPlace(at::Tensor& scores, const at::Tensor& lse);

/// s − lse in place: the logarithm of probabilitiesInPlace()'s cells, the same float32 values before its exp (so the
/// exp of a block's largest one is the block's largest probability, one exponential per block instead of per cell).
at::Tensor logProbabilitiesInPlace(at::Tensor& scores, const at::Tensor& lse);

}  // namespace attnscope::detail
