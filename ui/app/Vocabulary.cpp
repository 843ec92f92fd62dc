#include "Vocabulary.h"

namespace attnscope {

InputKind inputKind(const ModelSummary& summary) {
  if (summary.modality == "image") return InputKind::Image;
  if (summary.modality == "audio") return InputKind::Audio;
  return InputKind::Text;
}

QString inputKindName(InputKind kind) {
  switch (kind) {
    case InputKind::Image: return "image";
    case InputKind::Audio: return "audio";
    case InputKind::Text: break;
  }
  return "text";
}

const QStringList& imageExtensions() {
  static const QStringList list = {"png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff"};
  return list;
}

const QStringList& audioExtensions() {
  static const QStringList list = {"wav", "flac", "ogg", "mp3", "aiff", "au"};
  return list;
}

QString fileFilter(InputKind kind) {
  const bool image = kind == InputKind::Image;
  QStringList globs;
  for (const QString& e : image ? imageExtensions() : audioExtensions()) globs << "*." + e;
  return QString("%1 (%2);;All files (*)").arg(image ? "Images" : "Audio", globs.join(' '));
}

const QStringList& variantPresets() {
  static const QStringList list = {"full",         "window:w=8", "block:size=16,global=1,random=1",
                                   "hier:block=8,keep=2", "topk:k=8", "linear",
                                   "performer:features=64", "prune:ratio=0.3", "quant:bits=4",
                                   "dropout:p=0.1"};
  return list;
}

const QStringList& defaultComparison() {
  static const QStringList list = {"window:w=8", "topk:k=8", "linear"};
  return list;
}

}  // namespace attnscope
