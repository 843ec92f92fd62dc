#include "LensTab.h"

#include <QHBoxLayout>
#include <QTimer>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "ViewFigure.h"
#include <qcustomplot.h>

namespace attnscope {

namespace {
constexpr double kMinTextCell = 11;  ///< cells narrower than this (pixels) get no text
}

LensTab::LensTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  m_mode = new QComboBox(this);
  m_mode->addItem(tr("colour: top token's probability"), "top");
  m_mode->addItem(tr("colour: target's probability"), "target");
  m_mode->addItem(tr("colour: target's rank"), "rank");
  row->addWidget(m_mode);
  row->addWidget(new QLabel(tr("target:"), this));
  m_target = new QLineEdit(this);
  m_target->setPlaceholderText(tr("each position's own prediction (or a token, or #id)"));
  m_target->setMinimumWidth(260);
  row->addWidget(m_target);
  m_note = new QLabel(this);
  row->addWidget(m_note, 1);
  v->addLayout(row);
  auto* split = new QSplitter(Qt::Horizontal, this);
  m_grid = new HeatmapView(split);
  auto* side = new QSplitter(Qt::Vertical, split);
  m_top = new QListWidget(side);
  m_top->setMinimumWidth(240);
  m_curve = new QCustomPlot(side);
  m_curve->addGraph();
  m_curve->graph(0)->setPen(QPen(QColor(59, 82, 139), 2));
  m_curve->graph(0)->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 6));
  m_curve->xAxis->setLabel(tr("layer"));
  m_curve->yAxis->setLabel(tr("target probability"));
  m_curve->yAxis->setRange(0, 1);
  m_curve->setMinimumHeight(160);
  split->setStretchFactor(0, 4);
  split->setStretchFactor(1, 1);
  v->addWidget(split, 1);
}

void LensTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, [this] {
    if (!m_doc->capture()) showLens(nullptr);
    if (m_active) refresh();
  });
  connect(m_mode, &QComboBox::currentIndexChanged, this, &LensTab::draw);
  connect(m_target, &QLineEdit::editingFinished, this, [this] {
    if (m_active) refresh();
  });
  connect(m_grid->plot(), &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    chooseCell(static_cast<int>(std::lround(m_grid->plot()->yAxis->pixelToCoord(e->pos().y()))),
               static_cast<int>(std::lround(m_grid->plot()->xAxis->pixelToCoord(e->pos().x()))));
  });
  connect(m_grid, &HeatmapView::pinChanged, this, [this] { m_grid->setPin(-1, -1); });
  connect(m_view, &ViewState::appearanceChanged, this, [this] { m_grid->setColorMap(m_view->colorMap()); });
  m_grid->setColorMap(m_view->colorMap());
  if (!m_runner) return;
  connect(m_runner, &RunController::lensReady, this, [this](quint64 id, std::shared_ptr<const LensResult> lens) {
    if (id != m_pending) return;
    m_note->clear();
    showLens(std::move(lens));
    emit shown();
  });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pending) m_note->setText(message);
  });
}

void LensTab::refresh() {
  const auto capture = m_doc->capture();
  // A run still in progress has no lens yet: the engine holds the input only when the forward is done.
  if (!capture || capture->partial || !m_runner || !m_doc->summary().hasLens) return;
  m_note->setText(tr("computing…"));
  m_pending = m_runner->lens(m_target->text().trimmed());
}

void LensTab::showLens(std::shared_ptr<const LensResult> lens) {
  m_lens = std::move(lens);
  if (!m_lens || m_lens->layers == 0 || m_lens->positions.empty()) {
    m_lens.reset();
    m_grid->clear();
    m_top->clear();
    m_curve->graph(0)->data()->clear();
    m_curve->replot();
    return;
  }
  const int layers = m_lens->layers, positions = static_cast<int>(m_lens->positions.size());
  if (m_layer < 0 || m_layer >= layers || m_position < 0 || m_position >= positions) {
    m_layer = layers - 1;  // the model's own output at the last position: where a reader starts
    m_position = positions - 1;
  }
  draw();
  chooseCell(m_layer, m_position);
}

void LensTab::draw() {
  if (!m_lens) {
    writeCellTexts();
    return;
  }
  const int layers = m_lens->layers, positions = static_cast<int>(m_lens->positions.size());
  const QString mode = m_mode->currentData().toString();
  std::vector<float> values;
  double hi = 0;
  for (const auto& c : m_lens->cells) {
    values.push_back(mode == "top" ? c.p.front() : mode == "target" ? c.targetP : static_cast<float>(c.targetRank));
    hi = std::max(hi, static_cast<double>(values.back()));
  }
  std::vector<std::string> rows;
  for (int l = 0; l < layers; ++l) rows.push_back("after L" + std::to_string(l));
  const QString target = m_lens->target.empty() ? tr("each position's prediction")
                                                : QString("'%1'").arg(QString::fromStdString(m_lens->target));
  const QString title = mode == "top" ? tr("%1 — logit lens: top token and its probability").arg(modelName())
                                      : tr("%1 — logit lens: target %2").arg(modelName(), target);
  m_grid->setMatrix(values, layers, positions, rows, m_lens->positions, title, 0, mode == "rank" ? std::max(hi, 1.0) : 1.0,
                    QString(), mode == "rank" ? tr("target's rank") : tr("probability"), tr("layer"), tr("position"));
  m_values = values;
  m_top1 = hi;
  writeCellTexts();
}

void LensTab::writeCellTexts() {
  for (QCPItemText* t : m_texts) m_grid->plot()->removeItem(t);
  m_texts.clear();
  if (!m_lens) return;
  const int layers = m_lens->layers, positions = static_cast<int>(m_lens->positions.size());
  m_grid->plot()->replot();  // lays the axis rect out at the current size
  const double cell = m_grid->plot()->axisRect()->width() / static_cast<double>(positions);
  const double height = m_grid->plot()->axisRect()->height() / static_cast<double>(layers);
  // The top token of every cell (spaces around it trimmed), elided to the cell; written upwards in cells taller than
  // wide and too narrow for it; dark on light cells, light on dark ones.
  if (cell >= kMinTextCell) {
    QFont font = m_grid->plot()->font();
    font.setPointSizeF(cell < 30 ? 7 : 8);
    const QFontMetrics metrics(font);
    const bool upwards = cell < 40 && height > cell;
    const bool rank = m_mode->currentData().toString() == "rank";
    for (int l = 0; l < layers; ++l)
      for (int p = 0; p < positions; ++p) {
        auto* t = new QCPItemText(m_grid->plot());
        t->position->setCoords(p, l);
        QString token = QString::fromStdString(m_lens->at(l, p).tokens.front()).replace('\n', "\\n").trimmed();
        if (token.isEmpty()) token = QStringLiteral("␣");
        t->setText(metrics.elidedText(token, Qt::ElideRight, static_cast<int>(upwards ? height : cell) - 4));
        if (upwards) t->setRotation(-90);
        t->setFont(font);
        const double shade = m_values[static_cast<size_t>(l) * positions + p] / (rank ? std::max(m_top1, 1.0) : 1.0);
        t->setColor(shade > 0.6 ? Qt::black : Qt::white);
        t->setClipToAxisRect(true);
        m_texts << t;
      }
  }
  m_grid->plot()->replot();
}

void LensTab::resizeEvent(QResizeEvent* event) {
  AnalysisTab::resizeEvent(event);
  if (m_lens) QTimer::singleShot(0, this, &LensTab::writeCellTexts);  // after the plot has its new size
}

QStringList LensTab::cellTexts() const {
  QStringList out;
  for (const QCPItemText* t : m_texts) out << t->text();
  return out;
}

void LensTab::chooseCell(int layer, int position) {
  if (!m_lens || layer < 0 || layer >= m_lens->layers || position < 0 ||
      position >= static_cast<int>(m_lens->positions.size()))
    return;
  m_layer = layer;
  m_position = position;
  const auto& c = m_lens->at(layer, position);
  m_top->clear();
  m_top->addItem(tr("after layer %1, position %2 '%3':").arg(layer).arg(position)
                     .arg(QString::fromStdString(m_lens->positions[static_cast<size_t>(position)])));
  for (size_t i = 0; i < c.tokens.size(); ++i)
    m_top->addItem(QString("%1. '%2'  %3").arg(i + 1).arg(QString::fromStdString(c.tokens[i])).arg(c.p[i], 0, 'f', 4));
  QVector<double> x, y;
  for (int l = 0; l < m_lens->layers; ++l) {
    x << l;
    y << m_lens->at(l, position).targetP;
  }
  m_curve->graph(0)->setData(x, y, true);
  m_curve->xAxis->setRange(-0.5, m_lens->layers - 0.5);
  m_curve->yAxis->setLabel(tr("p('%1') at position %2").arg(QString::fromStdString(c.targetToken)).arg(position));
  m_curve->replot();
}

void LensTab::writeFigure(const QString& path, int dpi) const {
  if (!m_lens) throw std::runtime_error("no logit lens to export: open the Logit lens tab after a run");
  ViewPiece grid, curve;
  grid.plot = m_grid->plot();
  grid.rect = QRect(QPoint(0, 0), grid.plot->size());
  curve.plot = m_curve;
  curve.rect = QRect(QPoint(grid.plot->width(), 0), m_curve->size());
  writeViewFigure({grid, curve}, path, dpi);
}

QJsonObject LensTab::saveState() const {
  return {{"mode", m_mode->currentData().toString()}, {"target", m_target->text()}};
}

void LensTab::restoreState(const QJsonObject& state) {
  const int i = m_mode->findData(state.value("mode").toString());
  if (i >= 0) m_mode->setCurrentIndex(i);
  m_target->setText(state.value("target").toString());
}

}  // namespace attnscope
