#pragma once
/// \file WeightStore.h
/// The tensors of a model folder: model.safetensors, a sharded
/// model.safetensors.index.json, or pytorch_model.bin (legacy, with a warning).
/// Families take() tensors by HF name with the shape they expect; problems are
/// collected and reported together by finish(), each by name.

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace attnscope {

class SafetensorsFile;

/// All weights of one model folder, loaded lazily from memory-mapped files.
class WeightStore {
 public:
  /// Opens the weights of \p dir. Throws ModelLoadError when none exist or a file is malformed.
  static WeightStore open(const std::string& dir);
  /// A store over an in-memory map (tests, generated models).
  static WeightStore fromTensors(std::map<std::string, at::Tensor> tensors, const std::string& origin);

  /// Where the weights came from (file name for messages).
  const std::string& origin() const { return m_origin; }
  bool has(const std::string& name) const;
  std::vector<std::string> names() const;
  /// Stored dtype of the first floating tensor ("F32", "F16", ...).
  std::string storedDtype() const;

  /// Returns tensor \p name converted to \p options (device/dtype), checking \p shape
  /// (empty shape = any; -1 = any size in that dimension). A missing tensor or wrong shape is recorded and an
  /// undefined tensor returned; finish() throws with every problem listed.
  at::Tensor take(const std::string& name, const std::vector<int64_t>& shape, const at::TensorOptions& options);
  /// Like take() but absent tensors are not an error (returns undefined).
  at::Tensor takeOptional(const std::string& name, const std::vector<int64_t>& shape,
                          const at::TensorOptions& options);
  /// Marks names as deliberately ignored (e.g. non-persistent buffers some checkpoints carry).
  void ignore(const std::string& name) { m_used.insert(name); }

  /// Throws ModelLoadError listing missing tensors and shape mismatches;
  /// warns (naming them) about tensors that no part of the model used.
  void finish();
  /// Names never taken (after the family built itself).
  std::vector<std::string> unused() const;
  /// Total number of elements of all taken tensors.
  int64_t parameterCount() const { return m_parameterCount; }

 private:
  at::Tensor raw(const std::string& name) const;
  /// Records a problem; throws (through finish()) once there are too many to be useful.
  void recordProblem(const std::string& problem);
  std::string m_origin;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> m_fileOf;  ///< tensor -> file
  std::map<std::string, at::Tensor> m_memory;                         ///< in-memory tensors
  std::set<std::string> m_used;
  std::vector<std::string> m_problems;
  int64_t m_parameterCount = 0;
};

/// Reads a Python torch.save state dict (pytorch_model.bin). Implemented in its own
/// file because it needs the TorchScript deserializer.
std::map<std::string, at::Tensor> loadTorchStateDict(const std::string& path);

/// Safetensors-style name of a dtype ("F32", "BF16", "F16", "F64").
std::string dtypeName(at::ScalarType type);

}  // namespace attnscope
