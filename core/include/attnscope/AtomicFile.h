#pragma once
/// \file AtomicFile.h
/// The one way AttnScope writes a user's file: into a temporary file beside the target, flushed to disk, then
/// renamed over the target. Killed or failing at any moment, the target is either the old file or the whole new
/// one; a failed write removes its temporary file. Captures, reports, sweeps, overlays, figures, sessions, exports
/// and converted models all go through it.
#include <cstddef>
#include <string>
#include <string_view>

namespace attnscope {

/// A file being written atomically: write() the bytes, then commit(); destroyed without commit(), the temporary file
/// is removed and the target stays as it was.
class AtomicFile {
 public:
  /// Creates the temporary file beside \p path; throws InputError naming \p path when the folder is not writable.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends \p size bytes; throws InputError (disk full, I/O error) naming the target.
  void write(const void* data, size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  /// Flushes to disk and renames over the target; throws InputError naming the target on failure.
  void commit();
  const std::string& path() const { return m_path; }

 private:
  std::string m_path, m_tmp;
  int m_fd = -1;
  bool m_committed = false;
};

/// Writes \p bytes to \p path atomically (see AtomicFile).
void writeFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace attnscope
