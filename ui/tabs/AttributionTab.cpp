#include "AttributionTab.h"

#include <QHBoxLayout>
#include <QVBoxLayout>
#include <stdexcept>

#include "ViewFigure.h"
#include "attnscope/WordGroups.h"

namespace attnscope {

AttributionTab::AttributionTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("method:"), this));
  m_method = new QComboBox(this);
  m_method->addItem(tr("attention rollout"), "rollout");
  m_method->addItem(tr("attention flow"), "flow");
  m_method->addItem(tr("ALTI"), "alti");
  m_method->addItem(tr("value zeroing"), "value-zeroing");
  m_method->addItem(tr("gradient × attention"), "grad-attn");
  m_method->setCurrentIndex(4);
  m_method->setToolTip(tr("Rollout and flow follow the head-averaged attention; ALTI and value zeroing measure what "
                          "each position's vectors contribute; gradient × attention weighs each layer's attention by "
                          "the target logit's gradient (Chefer et al. 2021)"));
  row->addWidget(m_method);
  row->addWidget(new QLabel(tr("position:"), this));
  m_position = new QSpinBox(this);
  m_position->setRange(-1, 1 << 20);
  m_position->setValue(-1);
  m_position->setSpecialValueText(tr("default"));
  m_position->setToolTip(tr("The position whose sources are scored (default: the last for causal models, else the "
                            "first — the class token). Encoder–decoder models: gradient × attention scores the "
                            "encoder's positions for a decoder position (default: the last); the other methods "
                            "follow the encoder"));
  row->addWidget(m_position);
  row->addWidget(new QLabel(tr("target:"), this));
  m_target = new QLineEdit(this);
  m_target->setPlaceholderText(tr("the prediction (a token, #id or label)"));
  m_target->setMinimumWidth(200);
  row->addWidget(m_target);
  m_note = new QLabel(this);
  row->addWidget(m_note, 1);
  v->addLayout(row);
  m_picture = new QLabel(this);
  m_picture->setAlignment(Qt::AlignCenter);
  m_picture->setVisible(false);
  v->addWidget(m_picture, 2);
  m_plot = new TokenScoresPlot(this);
  v->addWidget(m_plot, 1);
}

void AttributionTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    if (!m_doc->capture()) showResult(nullptr);
    if (m_active) refresh();
  });
  connect(m_view, &ViewState::wordsChanged, this, &AttributionTab::redraw);
  connect(m_method, &QComboBox::currentIndexChanged, this, [this] {
    m_target->setEnabled(m_method->currentData().toString() == "grad-attn");
    if (m_active) refresh();
  });
  connect(m_position, &QSpinBox::valueChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_target, &QLineEdit::editingFinished, this, [this] {
    if (m_active) refresh();
  });
  if (!m_runner) return;
  connect(m_runner, &RunController::attributionReady, this,
          [this](quint64 id, std::shared_ptr<const TokenAttribution> result, const QImage& overlay) {
            if (id != m_pending) return;
            m_note->clear();
            showResult(std::move(result), overlay);
            emit shown();
          });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) m_note->setText(message);
  });
}

void AttributionTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->partial || !m_runner || !availableFor(m_doc->summary())) return;
  m_note->setText(tr("computing…"));
  const QString method = m_method->currentData().toString();
  m_pending = m_runner->attribution(method, m_position->value(), method == "grad-attn" ? m_target->text().trimmed() : "",
                                    0.55, m_view->colorMap());
}

void AttributionTab::showResult(std::shared_ptr<const TokenAttribution> result, const QImage& overlay) {
  m_result = std::move(result);
  m_overlay = overlay;
  m_picture->setVisible(!m_overlay.isNull());
  if (!m_overlay.isNull())
    m_picture->setPixmap(QPixmap::fromImage(m_overlay).scaled(900, 420, Qt::KeepAspectRatio, Qt::SmoothTransformation));
  redraw();
}

void AttributionTab::redraw() {
  TokenScores s;
  if (m_result) {
    const TokenAttribution& a = *m_result;
    s.labels = a.labels;
    s.values = a.scores;
    s.highlight = static_cast<int>(a.highlight);
    s.valueLabel = a.method == "grad-attn" ? "relevance" : "share";
    const bool ownSequence = a.highlight >= 0;
    QString title = m_method->itemText(std::max(0, m_method->findData(QString::fromStdString(a.method)))) +
                    (ownSequence ? tr(" of position %1 '%2'") : tr(" of decoder position %1 '%2' over the encoder"))
                        .arg(a.position)
                        .arg(QString::fromStdString(a.positionToken));
    if (a.hasTarget) title += tr(" for '%1' (logit %2)").arg(QString::fromStdString(a.target)).arg(a.logit, 0, 'f', 2);
    if (m_view && m_view->words() && m_doc && m_doc->summary().modality == "text") {
      const WordGroups words = wordGroups(a.labels);
      s.values = sumByWord(words, a.scores);
      s.labels = words.labels;
      s.highlight = ownSequence ? words.wordOf.at(static_cast<size_t>(a.highlight)) : -1;
      title += tr(" · words (a word gets the sum of its pieces)");
    }
    s.title = title.toStdString();
  }
  m_plot->setScores(s);
}

QString AttributionTab::figureName() const {
  return modelName() + "-attribution-" + (m_result ? QString::fromStdString(m_result->method) : QString());
}

void AttributionTab::writeFigure(const QString& path, int dpi) const {
  if (!m_result) throw std::runtime_error("nothing to draw: run the model first");
  ViewPiece piece;
  piece.plot = m_plot;
  piece.rect = QRect(QPoint(0, 0), m_plot->size());
  writeViewFigure({piece}, path, dpi);
}

QJsonObject AttributionTab::saveState() const {
  return {{"method", m_method->currentData().toString()},
          {"position", m_position->value()},
          {"target", m_target->text()}};
}

void AttributionTab::restoreState(const QJsonObject& state) {
  const int i = m_method->findData(state.value("method").toString("grad-attn"));
  if (i >= 0) m_method->setCurrentIndex(i);
  m_position->setValue(state.value("position").toInt(-1));
  m_target->setText(state.value("target").toString());
}

}  // namespace attnscope
