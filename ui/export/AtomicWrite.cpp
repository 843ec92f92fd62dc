#include "AtomicWrite.h"

#include <string_view>

#include "attnscope/AtomicFile.h"

namespace attnscope {

void writeFileAtomically(const QString& path, const QByteArray& bytes) {
  // The engine's one atomic writer (temporary file beside the target, fsync, rename); its InputError names the file.
  writeFileAtomically(path.toStdString(), std::string_view(bytes.constData(), static_cast<size_t>(bytes.size())));
}

}  // namespace attnscope
