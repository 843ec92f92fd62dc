#include "attnscope/AtomicFile.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "attnscope/Errors.h"

namespace attnscope {

namespace {
std::atomic<unsigned> g_counter{0};
}

AtomicFile::AtomicFile(std::string path, Sync sync) : m_path(std::move(path)), m_sync(sync) {
  // A unique name in the target's folder (rename only replaces atomically within one file system).
  m_tmp = m_path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter++);
  m_fd = ::open(m_tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (m_fd < 0)
    throw InputError("cannot write '" + m_path + "': " + std::strerror(errno) + " (creating '" + m_tmp + "')");
}

AtomicFile::~AtomicFile() {
  if (m_fd >= 0) ::close(m_fd);
  if (!m_committed) ::unlink(m_tmp.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(m_fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw InputError("cannot write '" + m_path + "': " + (n < 0 ? std::strerror(errno) : "no space left"));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (m_sync == Sync::Flush && ::fsync(m_fd) != 0) throw InputError("cannot write '" + m_path + "': " + std::strerror(errno));
  const int fd = m_fd;
  m_fd = -1;
  if (::close(fd) != 0) throw InputError("cannot write '" + m_path + "': " + std::strerror(errno));
  if (std::rename(m_tmp.c_str(), m_path.c_str()) != 0)
    throw InputError("cannot replace '" + m_path + "': " + std::strerror(errno));
  m_committed = true;
}

void writeFileAtomically(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace attnscope
