#include "ModelCard.h"

#include <QFileInfo>
#include <QLocale>

namespace attnscope {

ModelCard::ModelCard(AnalysisDocument* document, QWidget* parent) : QLabel(parent), m_doc(document) {
  setText(tr("No model loaded.\n\nFile ▸ Open model folder…\nor drop a Hugging Face\nmodel folder here."));
  setAlignment(Qt::AlignTop | Qt::AlignLeft);
  setMargin(8);
  setTextInteractionFlags(Qt::TextSelectableByMouse);
  setMinimumWidth(180);
  setMaximumWidth(280);
  setWordWrap(true);
  connect(m_doc, &AnalysisDocument::modelChanged, this, &ModelCard::showModel);
}

void ModelCard::showModel() {
  if (!m_doc->hasModel()) {
    setText(tr("<b>Model folder not found</b><br><br>%1<br><br>The session's captures are shown; open the model "
               "folder (File ▸ Open model folder…) to run it again.")
                .arg(m_doc->modelDir().toHtmlEscaped()));
    return;
  }
  const ModelSummary& s = m_doc->summary();
  auto number = [](int64_t n) { return QLocale().toString(static_cast<qlonglong>(n)); };
  QString card = QString("<b>%1</b><br><br>").arg(QFileInfo(QString::fromStdString(s.dir)).fileName().toHtmlEscaped());
  card += QString("<table cellspacing=2>"
                  "<tr><td>family</td><td><b>%1</b></td></tr>"
                  "<tr><td>class</td><td>%2</td></tr>"
                  "<tr><td>modality</td><td>%3</td></tr>"
                  "<tr><td>layers</td><td>%4</td></tr>"
                  "<tr><td>heads</td><td>%5 q / %6 kv</td></tr>"
                  "<tr><td>hidden</td><td>%7</td></tr>"
                  "<tr><td>vocabulary</td><td>%8</td></tr>"
                  "<tr><td>parameters</td><td>%9</td></tr>"
                  "<tr><td>dtype</td><td>%10</td></tr>"
                  "<tr><td>device</td><td>%11</td></tr>"
                  "<tr><td>tokenizer</td><td>%12</td></tr></table>")
              .arg(QString::fromStdString(s.family).toHtmlEscaped(),
                   QString::fromStdString(s.architecture).toHtmlEscaped(), QString::fromStdString(s.modality))
              .arg(s.layers)
              .arg(s.heads)
              .arg(s.kvHeads)
              .arg(s.hidden)
              .arg(number(s.vocab), number(s.parameters),
                   QString::fromStdString(s.computeDtype.empty() || s.computeDtype == s.dtype
                                              ? s.dtype
                                              : s.dtype + " on disk, computed in " + s.computeDtype),
                   QString::fromStdString(s.device), QString::fromStdString(s.tokenizer).toHtmlEscaped());
  // Structure beyond plain attention, with where it is shown.
  if (s.experts > 0)
    card += tr("<p>Mixture of experts: %1 experts, %2 per token (Routing tab).</p>").arg(s.experts).arg(s.expertsPerToken);
  if (s.attentionSinks) card += tr("<p>Learned attention sinks: the head view's last column.</p>");
  if (!s.note.empty())
    card += QString("<p style='color:#8a4b00'><b>%1</b></p>").arg(QString::fromStdString(s.note).toHtmlEscaped());
  setText(card);
}

}  // namespace attnscope
