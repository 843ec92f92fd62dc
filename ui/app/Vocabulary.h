#pragma once
// The UI's typed vocabularies and lists, each defined once: what kind of input a model takes, the media files it
// opens, and the variant specs offered in the variant boxes.
#include <QString>
#include <QStringList>

#include "attnscope/EngineSession.h"

namespace attnscope {

enum class InputKind { Text, Image, Audio };

/// What \p summary's model reads (from its modality; anything else is text).
InputKind inputKind(const ModelSummary& summary);
/// "text", "image" or "audio".
QString inputKindName(InputKind kind);

/// File suffixes (lower case, no dot) the image / audio readers open.
const QStringList& imageExtensions();
const QStringList& audioExtensions();
/// A file-dialog filter for \p kind's files.
QString fileFilter(InputKind kind);

/// Variant specs offered in the variant boxes ("full" first).
const QStringList& variantPresets();
/// The three variants the Compare tab starts with.
const QStringList& defaultComparison();

}  // namespace attnscope
