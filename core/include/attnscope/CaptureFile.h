#pragma once
/// \file CaptureFile.h
/// Reads either kind of capture file written by saveCapture(): probabilities ([heads, q, k] per layer) or queries,
/// keys and row log-sum-exp (QueryKeyLayer), and gives any block of any head from either, computing it on demand
/// from the memory-mapped file for the second kind.

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnscope/AttentionCapture.h"
#include "attnscope/QueryKeyLayer.h"

namespace attnscope {

class SafetensorsFile;

/// An opened capture file.
class CaptureFile {
 public:
  /// Throws InputError when \p path is not an AttnScope capture or its tensors do not match their metadata.
  static std::shared_ptr<CaptureFile> open(const std::string& path);

  const std::string& path() const { return m_path; }
  CaptureKind kind() const { return m_kind; }
  /// The "attnscope" metadata object.
  const nlohmann::json& metadata() const { return m_meta; }
  const SafetensorsFile& file() const { return *m_file; }
  /// The stacks that hold captured layers, in the model's order.
  std::vector<std::string> stacks() const;
  /// Captured layers of \p stack, ascending.
  std::vector<int> layers(const std::string& stack) const;
  /// Model head index of each stored head.
  const std::vector<int>& heads() const { return m_heads; }
  /// Query rows and key columns of (stack, layer). Throws InputError when the layer was not captured.
  std::pair<int64_t, int64_t> shape(const std::string& stack, int layer) const;
  /// Probabilities of model head \p head for rows [row0, row0 + rows) and keys [col0, col0 + cols): float32
  /// [rows, cols]. Throws InputError naming what is out of range.
  at::Tensor block(const std::string& stack, int layer, int head, int64_t row0, int64_t rows, int64_t col0,
                   int64_t cols) const;
  /// Calls \p sink with consecutive row blocks ([≤ rowsPerBlock, cols] float32) of that block — how a large head is
  /// written without holding it whole.
  void forEachRowBlock(const std::string& stack, int layer, int head, int64_t row0, int64_t rows, int64_t col0,
                       int64_t cols, int64_t rowsPerBlock, const std::function<void(const at::Tensor&)>& sink) const;
  /// Every stored head of (stack, layer): float32 [heads, q, k].
  at::Tensor probabilities(const std::string& stack, int layer) const;
  /// The queries/keys/lse of (stack, layer) of a CaptureKind::QueryKey file (views of the mapped file).
  const QueryKeyLayer& queryKeyLayer(const std::string& stack, int layer) const;
  /// Bytes the probabilities of every captured layer and stored head would take.
  int64_t probabilityBytes() const;

 private:
  std::string m_path;
  std::shared_ptr<SafetensorsFile> m_file;
  nlohmann::json m_meta;
  CaptureKind m_kind = CaptureKind::Probabilities;
  std::vector<int> m_heads;
  std::vector<std::string> m_stackOrder;
  std::map<std::pair<std::string, int>, QueryKeyLayer> m_qk;
  std::map<std::pair<std::string, int>, std::pair<int64_t, int64_t>> m_shapes;
};

/// Writes model head \p head's block (rows [row0, row0 + rows), keys [col0, col0 + cols)) of (stack, layer) as
/// float32 [rows, cols] to \p out: NumPy ".npy", or ".safetensors" (tensor "attention", metadata naming the
/// source). Streams row blocks, so a whole long head is never held twice; written atomically (AtomicFile), flushed to
/// disk before the rename only when \p flush is true (the CLI's `head --fsync`): the block is recomputed from the
/// capture in seconds, and a 1 GB head would otherwise wait seconds for the disk. Throws InputError for another
/// extension.
void writeHeadBlock(const CaptureFile& capture, const std::string& stack, int layer, int head, int64_t row0,
                    int64_t rows, int64_t col0, int64_t cols, const std::string& out, bool flush = false);

/// Tensor name of a stack's layer in capture files ("attentions.3", "cross_attentions.1").
std::string captureTensorName(const std::string& stack, int layer);
/// Tensor name of \p what ("attentions", "queries", "keys", "lse", "bias_diagonals", "key_padding_mask") of a stack's
/// layer ("queries.3", "cross_keys.1").
std::string captureTensorName(const std::string& stack, int layer, const std::string& what);

}  // namespace attnscope
