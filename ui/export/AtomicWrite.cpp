#include "AtomicWrite.h"

#include <QSaveFile>
#include <stdexcept>

namespace attnscope {

void writeFileAtomically(const QString& path, const QByteArray& bytes) {
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit())
    throw std::runtime_error(QString("cannot write %1: %2").arg(path, f.errorString()).toStdString());
}

}  // namespace attnscope
