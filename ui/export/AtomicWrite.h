#pragma once
#include <QByteArray>
#include <QString>

namespace attnscope {

/// Writes \p bytes to \p path atomically (attnscope/AtomicFile.h): the old file stays intact unless the whole write
/// succeeds. Throws InputError (a std::runtime_error) naming the file and the reason.
void writeFileAtomically(const QString& path, const QByteArray& bytes);

}  // namespace attnscope
