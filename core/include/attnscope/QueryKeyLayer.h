#pragma once
/// \file QueryKeyLayer.h
/// The second capture kind: what one layer's attention is made from. Instead of the probabilities
/// [heads, q, k] (heads·T² floats), it keeps the queries and keys exactly as the scores use them (after
/// RoPE), each query row's log-sum-exp, and the description of the masks and the additive bias. Every cell is
/// then exp(q·k·scale + bias − lse), exact and independent of every other cell, so any tile of any head is
/// computed on demand (long inputs).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace attnscope {

/// Queries, keys and row log-sum-exp of one attention computation, with what recomputes its scores.
struct QueryKeyLayer {
  at::Tensor queries;  ///< float32 [heads, q, d]: the stored query heads (see heads), before the scale
  at::Tensor keys;     ///< float32 [kv_heads, k, d]: every key/value head
  at::Tensor lse;      ///< float64 [heads, q]: log Σ_j exp(score) of each query row (float64 keeps cells exact)
  std::vector<int> heads;  ///< model head index of each stored query head
  int totalHeads = 0;      ///< the layer's query heads (head h reads key head h / (totalHeads / kv_heads))
  double scale = 1.0;      ///< multiplies q·kᵀ
  bool causal = false;     ///< query i sees keys 0..past+i
  int64_t slidingWindow = 0;  ///< > 0: query at absolute position p sees keys j > p − slidingWindow
  int64_t past = 0;           ///< absolute position of query row 0 (keys start at 0)
  double softcap = 0;         ///< > 0: scores are softcap·tanh(q·k·scale / softcap) (Gemma-2)
  int64_t chunkSize = 0;      ///< > 0: query at absolute position p sees only keys of its chunk (Llama 4)
  /// A learned sink (gpt-oss) takes part in lse but is no cell: the cells are the real keys' probabilities.
  at::Tensor keyPaddingMask;  ///< optional bool [k]: true = key is padding
  /// Optional additive bias that depends only on key − query (T5's relative positions): float32
  /// [heads, q + k − 1], bias(h, i, j) = biasDiagonals[h, j − i + q − 1].
  at::Tensor biasDiagonals;

  int64_t rows() const { return queries.size(1); }
  int64_t cols() const { return keys.size(1); }
  /// Position of model head \p head among the stored heads; −1 when it was not stored.
  int headPosition(int head) const;
  /// Probabilities of stored head \p headPos for query rows [row0, row0 + rows) and keys [col0, col0 + cols):
  /// float32 [rows, cols]. Masked cells are 0.
  at::Tensor tile(int headPos, int64_t row0, int64_t rows, int64_t col0, int64_t cols) const;
  /// The part of tile() the rows can see at all: float32 [rows, w] for keys [*lo, *lo + w) inside the asked columns
  /// (undefined when they see none of them); every other cell of the tile is 0.
  at::Tensor visibleTile(int headPos, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int64_t* lo) const;
  /// Every stored head's probabilities: float32 [heads, q, k] (only for inputs where that fits).
  at::Tensor probabilities() const;
  /// Block maxima of stored head \p headPos over the rows [row0, row1) and keys [col0, col1) cut into
  /// \p outRows × \p outCols nearly equal blocks (what a heatmap at screen resolution draws): float32 [outRows, outCols].
  at::Tensor blockMaxima(int headPos, int64_t row0, int64_t row1, int64_t col0, int64_t col1, int64_t outRows,
                         int64_t outCols) const;
  /// Block maxima over blocks of \p blockRows × \p blockCols cells from (row0, col0) (the last ones partial), as a
  /// heatmap drawing a window at screen resolution asks: float32 [ceil(rows / blockRows), ceil(cols / blockCols)].
  at::Tensor blockMaximaBySize(int headPos, int64_t row0, int64_t row1, int64_t col0, int64_t col1, int64_t blockRows,
                               int64_t blockCols) const;
  /// Block maxima between explicit boundaries: rows [rowStarts[i], rowStarts[i + 1]), keys likewise.
  at::Tensor blockMaximaAt(int headPos, const std::vector<int64_t>& rowStarts, const std::vector<int64_t>& colStarts) const;
  /// Bytes held by the tensors.
  int64_t bytes() const;
};

/// Extracts Toeplitz diagonals from a dense bias [heads, q, k]: [heads, q + k − 1], or an undefined tensor when
/// the bias is not a function of key − query alone.
at::Tensor toeplitzDiagonals(const at::Tensor& bias);

/// What recomputes \p q's scores besides its tensors, as capture files and sessions store it:
/// {"scale", "causal", "sliding_window", "past", "total_heads"}.
nlohmann::json queryKeyMetadata(const QueryKeyLayer& q);

/// \p q's tensors by their stored names: "queries", "keys", "lse", and where the layer has them "bias_diagonals"
/// and "key_padding_mask".
std::vector<std::pair<std::string, at::Tensor>> queryKeyTensors(const QueryKeyLayer& q);

/// Rebuilds a layer from its description \p meta (queryKeyMetadata()) and the tensors \p tensor returns by stored
/// name (an undefined tensor when absent). \p heads: the stored heads' model indices; when empty it is filled with
/// 0 … heads − 1. Every shape, dtype and number is checked: a mismatch is an InputError that starts with \p where and
/// names the tensor and what was expected. The tensors are used as given (views of a mapped file stay views).
QueryKeyLayer readQueryKeyLayer(const nlohmann::json& meta, std::vector<int>& heads,
                                const std::function<at::Tensor(const std::string&)>& tensor, const std::string& where);

}  // namespace attnscope
