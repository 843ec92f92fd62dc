#pragma once
/// \file AtomicFile.h
/// The one way AttnScope writes a user's file: into a temporary file beside the target, flushed to disk, then
/// renamed over the target. Killed or failing at any moment, the target is either the old file or the whole new
/// one; a failed write removes its temporary file. Captures, reports, sweeps, overlays, figures, sessions, exports
/// and converted models all go through it. Outputs that are recomputed from a capture in seconds (`attnscope-cli
/// head`) may skip the flush (AtomicFile::Sync::Lazy): still renamed over the target only when whole, so a killed
/// or failing run never leaves a partial file, but the data reaches the disk when the kernel writes it back.
#include <cstddef>
#include <string>
#include <string_view>

namespace attnscope {

/// A file being written atomically: write() the bytes, then commit(); destroyed without commit(), the temporary file
/// is removed and the target stays as it was.
class AtomicFile {
 public:
  /// What commit() waits for before the rename.
  enum class Sync {
    Flush,  ///< fsync: the new file is on the disk before it replaces the target (the default)
    Lazy,   ///< no fsync: the rename follows the last write; the kernel writes the data back later
  };
  /// Creates the temporary file beside \p path; throws InputError naming \p path when the folder is not writable.
  explicit AtomicFile(std::string path, Sync sync = Sync::Flush);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends \p size bytes; throws InputError (disk full, I/O error) naming the target.
  void write(const void* data, size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  /// Flushes to disk (Sync::Flush) and renames over the target; throws InputError naming the target on failure.
  void commit();
  const std::string& path() const { return m_path; }

 private:
  std::string m_path, m_tmp;
  int m_fd = -1;
  Sync m_sync = Sync::Flush;
  bool m_committed = false;
};

/// Writes \p bytes to \p path atomically (see AtomicFile).
void writeFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace attnscope
