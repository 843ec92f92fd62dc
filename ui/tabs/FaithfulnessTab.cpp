#include "FaithfulnessTab.h"

#include <QHBoxLayout>
#include <QJsonArray>
#include <QVBoxLayout>
#include <algorithm>

#include "ViewFigure.h"

namespace attnscope {

FaithfulnessTab::FaithfulnessTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  // Two rows, so the tab fits a 1024-pixel window: the token rankings, then the head rankings and the
  // options.
  auto* tokens = new QHBoxLayout;
  m_removeLabel = new QLabel(tr("remove tokens by:"), this);
  tokens->addWidget(m_removeLabel);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("prune heads by:"), this));
  const std::vector<std::pair<QString, QString>> methods = {{"rollout", tr("rollout")},
                                                            {"flow", tr("attention flow")},
                                                            {"attention", tr("last-layer attention")},
                                                            {"alti", tr("ALTI")},
                                                            {"value-zeroing", tr("value zeroing")},
                                                            {"grad-attn", tr("grad × attn")},
                                                            {"random", tr("random")},
                                                            {"dla", tr("heads by DLA")},
                                                            {"random-heads", tr("random heads")}};
  for (const auto& [name, text] : methods) {
    auto* box = new QCheckBox(text, this);
    box->setChecked(name == "rollout" || name == "flow" || name == "attention" || name == "alti" ||
                    name == "grad-attn" || name == "random");
    m_methods[name] = box;
    (name == "dla" || name == "random-heads" ? row : tokens)->addWidget(box);
  }
  tokens->addStretch(1);
  v->addLayout(tokens);
  row->addWidget(new QLabel(tr("steps:"), this));
  m_steps = new QSpinBox(this);
  m_steps->setRange(1, 100);
  m_steps->setValue(10);
  row->addWidget(m_steps);
  row->addWidget(new QLabel(tr("target:"), this));
  m_target = new QLineEdit(this);
  m_target->setPlaceholderText(tr("the model's prediction (or a token, or #id)"));
  m_target->setToolTip(tr("Language models: a token at the last position or #id; classifiers: a label or #index"));
  m_target->setMinimumWidth(200);
  row->addWidget(m_target);
  m_note = new QLabel(this);
  row->addWidget(m_note, 1);
  v->addLayout(row);
  m_plot = new DeletionPlot(this);
  v->addWidget(m_plot, 1);
}

void FaithfulnessTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::modelChanged, this, [this] {
    // What a token ranking removes, and what the target is, follow the model; the rankings offered are those the
    // engine lists for it (heads by DLA need a token head; encoder–decoder models rank their encoder's positions for
    // the decoder's token).
    const ModelSummary& s = m_doc->summary();
    const bool classifier = !s.labels.empty() && !s.causal;
    m_removeLabel->setText(s.modality == "image"   ? tr("blank patches by:")
                           : s.modality == "audio" ? tr("silence frames by:")
                                                   : tr("remove tokens by:"));
    m_target->setPlaceholderText(classifier ? tr("the model's prediction (or a label, or #index)")
                                            : tr("the model's prediction (or a token, or #id)"));
    bool any = false;
    for (const auto& [name, box] : m_methods) {
      const bool applies = std::find(s.deletionMethods.begin(), s.deletionMethods.end(), name.toStdString()) !=
                           s.deletionMethods.end();
      box->setEnabled(applies);
      if (!applies) box->setChecked(false);
      any = any || box->isChecked();
    }
    if (!any)  // nothing chosen applies to this model: choose the rankings every model with a target has
      for (const QString name : {"attention", "grad-attn", "random"})
        if (m_methods.at(name)->isEnabled()) m_methods.at(name)->setChecked(true);
  });
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    if (!m_doc->capture()) showResult(nullptr);
    if (m_active) refresh();
  });
  for (const auto& [name, box] : m_methods)
    connect(box, &QCheckBox::toggled, this, [this] {
      if (m_active) refresh();
    });
  connect(m_steps, &QSpinBox::valueChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_target, &QLineEdit::editingFinished, this, [this] {
    if (m_active) refresh();
  });
  if (!m_runner) return;
  connect(m_runner, &RunController::deletionReady, this,
          [this](quint64 id, std::shared_ptr<const DeletionResult> result) {
            if (id != m_pending) return;
            m_note->clear();
            showResult(std::move(result));
            emit shown();
          });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) m_note->setText(message);
  });
}

QStringList FaithfulnessTab::chosenMethods() const {
  QStringList out;
  for (const auto& [name, box] : m_methods)
    if (box->isChecked()) out << name;
  return out;
}

void FaithfulnessTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->partial || !m_runner || !availableFor(m_doc->summary())) return;
  const QStringList methods = chosenMethods();
  if (methods.isEmpty()) {
    m_note->setText(tr("choose at least one method"));
    return;
  }
  m_note->setText(tr("computing…"));
  m_pending = m_runner->deletion(methods, m_target->text().trimmed(), m_steps->value());
}

void FaithfulnessTab::showResult(std::shared_ptr<const DeletionResult> result) {
  m_result = std::move(result);
  m_plot->setResult(m_result ? *m_result : DeletionResult());
}

void FaithfulnessTab::writeFigure(const QString& path, int dpi) const {
  if (!m_result) throw std::runtime_error("nothing to draw: run the model first");
  ViewPiece piece;
  piece.plot = m_plot;
  piece.rect = QRect(QPoint(0, 0), m_plot->size());
  writeViewFigure({piece}, path, dpi);
}

QJsonObject FaithfulnessTab::saveState() const {
  return {{"methods", QJsonArray::fromStringList(chosenMethods())},
          {"steps", m_steps->value()},
          {"target", m_target->text()}};
}

void FaithfulnessTab::restoreState(const QJsonObject& state) {
  if (state.contains("methods")) {
    QStringList chosen;
    for (const auto& v : state.value("methods").toArray()) chosen << v.toString();
    for (const auto& [name, box] : m_methods) box->setChecked(chosen.contains(name));
  }
  m_steps->setValue(state.value("steps").toInt(10));
  m_target->setText(state.value("target").toString());
}

}  // namespace attnscope
