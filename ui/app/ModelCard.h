#pragma once
#include <QLabel>

#include "AnalysisDocument.h"

namespace attnscope {

/// The model dock's card: what the document's model is (folder, architecture, sizes, dtype, tokenizer, notes).
class ModelCard : public QLabel {
  Q_OBJECT
 public:
  explicit ModelCard(AnalysisDocument* document, QWidget* parent = nullptr);

 private:
  void showModel();
  AnalysisDocument* m_doc;
};

}  // namespace attnscope
