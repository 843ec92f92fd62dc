#pragma once
/// \file SafetensorsFile.h
/// Memory-mapped reader and atomic writer for the safetensors format
/// (https://huggingface.co/docs/safetensors). The reader validates everything
/// before any tensor is touched: header length against the file size,
/// well-formed JSON, known dtypes, offsets inside the data area, no overlaps,
/// byte count = product(shape) x dtype size.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace attnscope {

/// Description of one tensor stored in a safetensors file.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;             ///< "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;
  uint64_t begin = 0;            ///< byte offset inside the data area
  uint64_t end = 0;
};

/// A validated, memory-mapped safetensors file. Tensors returned by tensor()
/// view the mapping directly (zero copy) and keep it alive.
class SafetensorsFile {
 public:
  /// Opens and validates \p path. Throws SafetensorsError naming the file and the problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return m_path; }
  /// Tensor names in file order (sorted by offset).
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return m_entries.count(name) != 0; }
  /// Throws SafetensorsError when \p name is absent.
  const SafetensorsEntry& entry(const std::string& name) const;
  /// CPU tensor in the stored dtype, viewing the mapped bytes (read-only: do not write to it).
  at::Tensor tensor(const std::string& name) const;
  /// Lets the kernel drop the pages that hold tensor \p name from this process (they stay in the page cache and
  /// are read again if touched): call it once the tensor has been copied, so a model's mapped file and its copies
  /// never all count towards the process's memory at once. Views of the tensor stay valid.
  void releasePages(const std::string& name) const;
  /// The optional "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const { return m_metadata; }

 private:
  SafetensorsFile() = default;
  std::string m_path;
  std::map<std::string, SafetensorsEntry> m_entries;
  std::map<std::string, std::string> m_metadata;
  void* m_map = nullptr;
  size_t m_mapSize = 0;
  const uint8_t* m_data = nullptr;  ///< start of the data area
  std::weak_ptr<SafetensorsFile> m_self;
};

/// Collects tensors and writes them as one safetensors file. The file is
/// written to a temporary name beside the target and renamed over it only
/// when complete, so a failure never leaves a half-written file.
class SafetensorsWriter {
 public:
  /// Adds \p tensor (any device/dtype among the supported ones; written contiguous, little-endian).
  void add(const std::string& name, const at::Tensor& tensor);
  void setMetadata(const std::string& key, const std::string& value) { m_metadata[key] = value; }
  /// Writes the file. Throws InputError when the target cannot be written.
  void write(const std::string& path) const;
  /// The whole file as bytes (for callers that write it themselves, e.g. atomically through QSaveFile).
  std::string bytes() const;
  /// Streams the file to \p out.
  void writeTo(std::ostream& out) const;
  /// The file's bytes in order, handed to \p sink piece by piece.
  void writeToSink(const std::function<void(const char*, size_t)>& sink) const;

 private:
  std::vector<std::pair<std::string, at::Tensor>> m_tensors;
  std::map<std::string, std::string> m_metadata;
};

/// Size in bytes of one element of a safetensors dtype; 0 when unknown.
size_t safetensorsDtypeSize(const std::string& dtype);

}  // namespace attnscope
