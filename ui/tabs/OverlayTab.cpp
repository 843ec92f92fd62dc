#include "OverlayTab.h"

#include <QHBoxLayout>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QVBoxLayout>
#include <stdexcept>

#include "Vocabulary.h"
#include "ViewFigure.h"

namespace attnscope {

OverlayTab::OverlayTab(QWidget* parent) : AnalysisTab(parent) {
  auto* layout = new QVBoxLayout(this);
  auto* controls = new QHBoxLayout;
  m_query = new QSpinBox(this);
  m_query->setPrefix(tr("query "));
  m_query->setToolTip(tr("Query position whose attention is drawn (0 = the class token)"));
  m_rollout = new QCheckBox(tr("rollout over layers"), this);
  m_opacity = new QSlider(Qt::Horizontal, this);
  m_opacity->setRange(0, 100);
  m_opacity->setValue(55);
  m_opacity->setMaximumWidth(160);
  controls->addWidget(m_query);
  controls->addWidget(m_rollout);
  controls->addWidget(new QLabel(tr("opacity"), this));
  controls->addWidget(m_opacity);
  controls->addStretch(1);
  layout->addLayout(controls);
  auto* scroll = new QScrollArea(this);
  m_picture = new QLabel(tr("Run an image or audio model to see its attention over the input."), scroll);
  m_picture->setAlignment(Qt::AlignCenter);
  scroll->setWidget(m_picture);
  scroll->setWidgetResizable(true);
  layout->addWidget(scroll, 1);
}

bool OverlayTab::availableFor(const ModelSummary& summary) const { return inputKind(summary) != InputKind::Text; }

void OverlayTab::connectSignals() {
  auto again = [this] {
    if (m_active) refresh();
  };
  connect(m_doc, &AnalysisDocument::modelChanged, this, [this] {
    m_picture->setPixmap(QPixmap());
    m_image = QImage();
  });
  connect(m_doc, &AnalysisDocument::captureChanged, this, again);
  connect(m_view, &ViewState::headChanged, this, again);
  connect(m_view, &ViewState::appearanceChanged, this, again);
  connect(m_query, qOverload<int>(&QSpinBox::valueChanged), this, again);
  connect(m_rollout, &QCheckBox::toggled, this, again);
  connect(m_opacity, &QSlider::valueChanged, this, again);
  if (!m_runner) return;
  connect(m_runner, &RunController::overlayReady, this, [this](quint64 id, const QImage& img, const QString& title) {
    if (id != m_pending) return;
    // Fit the picture to the view's width (never enlarged); the full-size picture is what figures and the CLI write.
    const int room = std::max(200, width() - 40);
    const QImage fitted = img.width() > room ? img.scaledToWidth(room, Qt::SmoothTransformation) : img;
    m_picture->setPixmap(QPixmap::fromImage(fitted));
    m_image = img;
    m_picture->setToolTip(title);
    emit shown();
  });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id != m_pending) return;
    m_picture->setPixmap(QPixmap());
    m_image = QImage();
    m_picture->setText(message);
  });
}

void OverlayTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || !m_runner || !m_doc->hasModel() || !availableFor(m_doc->summary())) return;
  const AttentionMatrix* a = m_doc->matrix(m_view->stack(), m_view->layer());
  if (a) {
    QSignalBlocker block(m_query);
    m_query->setMaximum(std::max(0, a->q - 1));
  }
  const QString stack = capture->stacks.size() > 1 ? QString::fromStdString(currentStack()) : QString();
  m_pending = m_runner->overlay(stack, m_view->layer(), m_view->head(), m_query->value(), m_rollout->isChecked(),
                                m_opacity->value() / 100.0, m_view->colorMap());
}

void OverlayTab::writeFigure(const QString& path, int dpi) const {
  if (m_image.isNull()) throw std::runtime_error("no overlay to export: run an image or audio model first");
  ViewPiece p;
  p.image = m_image;
  p.rect = QRect(QPoint(0, 0), m_image.size());
  writeViewFigure({p}, path, dpi);
}

QJsonObject OverlayTab::saveState() const {
  return {{"query", m_query->value()}, {"rollout", m_rollout->isChecked()}, {"opacity", m_opacity->value()}};
}

void OverlayTab::restoreState(const QJsonObject& state) {
  m_query->setValue(state.value("query").toInt());
  m_rollout->setChecked(state.value("rollout").toBool());
  m_opacity->setValue(state.value("opacity").toInt(55));
}

}  // namespace attnscope
