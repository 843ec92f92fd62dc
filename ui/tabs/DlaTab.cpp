#include "DlaTab.h"

#include <QHBoxLayout>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "ViewFigure.h"

namespace attnscope {

DlaTab::DlaTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("position:"), this));
  m_position = new QSpinBox(this);
  m_position->setRange(-1, 0);
  m_position->setSpecialValueText(tr("last"));
  m_position->setValue(-1);
  m_position->setToolTip(tr("the query position whose next-token logit is split"));
  row->addWidget(m_position);
  row->addWidget(new QLabel(tr("target:"), this));
  m_target = new QLineEdit(this);
  m_target->setPlaceholderText(tr("the model's prediction there (or a token, or #id)"));
  m_target->setMinimumWidth(260);
  row->addWidget(m_target);
  m_note = new QLabel(this);
  row->addWidget(m_note, 1);
  v->addLayout(row);
  auto* split = new QSplitter(Qt::Horizontal, this);
  m_plot = new DlaPlot(split);
  m_parts = new QListWidget(split);
  m_parts->setMinimumWidth(220);
  QFont mono("monospace");
  mono.setStyleHint(QFont::TypeWriter);
  m_parts->setFont(mono);
  split->setStretchFactor(0, 4);
  split->setStretchFactor(1, 1);
  v->addWidget(split, 1);
}

void DlaTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    const auto capture = m_doc->capture();
    if (!capture) showAttribution(nullptr);
    // The positions of the stack whose residual stream is split (an encoder–decoder model's decoder).
    int T = capture ? static_cast<int>(capture->queryLabels.size()) : 0;
    for (size_t i = 0; capture && i < capture->stacks.size(); ++i)
      if (capture->stacks[i] == m_doc->summary().lensStack && i < capture->stackQueryLabels.size())
        T = static_cast<int>(capture->stackQueryLabels[i].size());
    m_position->setMaximum(std::max(0, T - 1));
    if (m_active) refresh();
  });
  connect(m_position, &QSpinBox::valueChanged, this, [this] {
    if (m_active) refresh();
  });
  connect(m_target, &QLineEdit::editingFinished, this, [this] {
    if (m_active) refresh();
  });
  connect(m_plot, &DlaPlot::cellClicked, this, [this](int layer, int head, bool cross) {
    if (!m_dla || head < 0) return;  // an MLP has no attention to open
    // The head's own stack: a decoder-only model's is the capture's first (kept), an encoder–decoder model's
    // the decoder or its cross-attention.
    if (cross || m_dla->stack != "self") m_view->setStack(QString::fromStdString(cross ? "cross" : m_dla->stack));
    m_view->setLayerHead(layer, head);
    m_view->setPin(static_cast<int>(m_dla->position), -1);
    emit headChosen(layer, head);
  });
  connect(m_parts, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
    const int layer = item->data(Qt::UserRole).toInt(), head = item->data(Qt::UserRole + 1).toInt();
    if (layer >= 0) m_plot->setSelected(layer, head, item->data(Qt::UserRole + 2).toBool());
  });
  if (!m_runner) return;
  connect(m_runner, &RunController::dlaReady, this,
          [this](quint64 id, std::shared_ptr<const DirectLogitAttribution> dla) {
            if (id != m_pending) return;
            m_note->clear();
            showAttribution(std::move(dla));
            emit shown();
          });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) m_note->setText(message);
  });
}

void DlaTab::refresh() {
  const auto capture = m_doc->capture();
  // A run still in progress has no input in the engine yet.
  if (!capture || capture->partial || !m_runner || !m_doc->summary().hasDirectAttribution) return;
  m_note->setText(tr("computing…"));
  m_pending = m_runner->directLogitAttribution(m_position->value(), m_target->text().trimmed());
}

void DlaTab::showAttribution(std::shared_ptr<const DirectLogitAttribution> dla) {
  m_dla = std::move(dla);
  m_parts->clear();
  if (!m_dla || m_dla->heads.empty()) {
    m_dla.reset();
    m_plot->setAttribution(DirectLogitAttribution());
    return;
  }
  m_plot->setAttribution(*m_dla);
  struct Part {
    QString name;
    double value;
    int layer, head;
    bool cross;
  };
  std::vector<Part> parts = {{tr("embeddings"), m_dla->embed, -1, 0, false},
                             {tr("biases"), m_dla->bias, -1, 0, false}};
  for (size_t l = 0; l < m_dla->heads.size(); ++l) {
    const int layer = static_cast<int>(l);
    for (size_t h = 0; h < m_dla->heads[l].size(); ++h)
      parts.push_back({QString("L%1H%2").arg(l).arg(h), m_dla->heads[l][h], layer, static_cast<int>(h), false});
    if (l < m_dla->crossHeads.size())
      for (size_t h = 0; h < m_dla->crossHeads[l].size(); ++h)
        parts.push_back(
            {QString("L%1 cross H%2").arg(l).arg(h), m_dla->crossHeads[l][h], layer, static_cast<int>(h), true});
    parts.push_back({QString("L%1 MLP").arg(l), m_dla->mlp[l], layer, -1, false});
  }
  std::stable_sort(parts.begin(), parts.end(),
                   [](const Part& a, const Part& b) { return std::abs(a.value) > std::abs(b.value); });
  m_parts->addItem(tr("logit %1 = Σ of:").arg(m_dla->logit, 0, 'f', 4));
  for (const Part& p : parts) {
    auto* item =
        new QListWidgetItem(QString("%1 %2")
                                .arg(p.name, m_dla->crossHeads.empty() ? -11 : -13)
                                .arg((p.value >= 0 ? "+" : "") + QString::number(p.value, 'f', 4), 9),
                            m_parts);
    item->setData(Qt::UserRole, p.layer);
    item->setData(Qt::UserRole + 1, p.head);
    item->setData(Qt::UserRole + 2, p.cross);
    item->setForeground(p.value >= 0 ? QColor(178, 24, 43) : QColor(33, 102, 172));
  }
}

void DlaTab::writeFigure(const QString& path, int dpi) const {
  if (!m_dla) throw std::runtime_error("nothing to draw: run the model first");
  ViewPiece piece;
  piece.plot = m_plot;
  piece.rect = QRect(QPoint(0, 0), m_plot->size());
  writeViewFigure({piece}, path, dpi);
}

QJsonObject DlaTab::saveState() const {
  return {{"position", m_position->value()}, {"target", m_target->text()}};
}

void DlaTab::restoreState(const QJsonObject& state) {
  const int position = state.value("position").toInt(-1);
  if (position > m_position->maximum()) m_position->setMaximum(position);
  m_position->setValue(position);
  m_target->setText(state.value("target").toString());
}

}  // namespace attnscope
