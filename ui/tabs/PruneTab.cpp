#include "PruneTab.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QVBoxLayout>
#include <cmath>
#include <stdexcept>

#include "ViewFigure.h"

namespace attnscope {

PruneTab::PruneTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  m_order = new QComboBox(this);
  m_order->addItem(tr("least important first (|∂L/∂ξ|)"), "importance");
  m_order->addItem(tr("most diffuse first (entropy)"), "entropy");
  m_order->addItem(tr("random order"), "random");
  m_order->setToolTip(tr("The order heads are pruned in; each point prunes a superset of the previous one"));
  m_seed = new QSpinBox(this);
  m_seed->setRange(0, 1 << 30);
  m_seed->setPrefix(tr("seed "));
  m_seed->setVisible(false);
  m_ratios = new QLineEdit("0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", this);
  m_ratios->setToolTip(tr("Fractions of all heads to prune, comma-separated, each between 0 and 1"));
  m_run = new QPushButton(tr("Run sweep"), this);
  m_run->setToolTip(tr("One forward per fraction on the current input"));
  m_compare = new QPushButton(tr("Compare this point with full"), this);
  m_compare->setEnabled(false);
  row->addWidget(m_order);
  row->addWidget(m_seed);
  row->addWidget(new QLabel(tr("fractions"), this));
  row->addWidget(m_ratios, 1);
  row->addWidget(m_run);
  row->addWidget(m_compare);
  v->addLayout(row);
  m_plot = new SweepPlot(this);
  v->addWidget(m_plot, 1);
  m_point = new QLabel(tr("Run the sweep, then click a point to mark its heads for pruning."), this);
  m_point->setWordWrap(true);
  m_point->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_point->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Minimum);
  v->addWidget(m_point);
  connect(m_order, &QComboBox::currentIndexChanged, this,
          [this] { m_seed->setVisible(m_order->currentData().toString() == "random"); });
  connect(m_run, &QPushButton::clicked, this, [this] {
    PruneSweepOptions o;
    QString why;
    if (!options(o, &why)) {
      m_point->setText(why);
      return;
    }
    emit sweepRequested(o);
  });
  connect(m_plot, &SweepPlot::pointClicked, this, &PruneTab::choosePoint);
  connect(m_compare, &QPushButton::clicked, this, [this] {
    if (!m_doc->pruneSpec().isEmpty()) emit compareRequested({m_doc->pruneSpec()});
  });
}

bool PruneTab::options(PruneSweepOptions& o, QString* why) const {
  o.order = m_order->currentData().toString().toStdString();
  o.seed = static_cast<uint64_t>(m_seed->value());
  o.ratios.clear();
  for (const QString& item : m_ratios->text().split(',', Qt::SkipEmptyParts)) {
    bool ok = false;
    const double r = item.trimmed().toDouble(&ok);
    if (!ok || r < 0 || r > 1) {
      if (why) *why = tr("'%1' is not a fraction between 0 and 1").arg(item.trimmed());
      return false;
    }
    o.ratios.push_back(r);
  }
  if (o.ratios.empty()) {
    if (why) *why = tr("Give at least one fraction, e.g. 0,0.1,0.2,0.5");
    return false;
  }
  return true;
}

void PruneTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::sweepChanged, this, &PruneTab::refresh);
  connect(m_doc, &AnalysisDocument::modelChanged, this, [this] {
    m_run->setEnabled(m_doc->hasModel());
  });
  if (m_runner)
    connect(m_runner, &RunController::stateChanged, this,
            [this](RunController::State s) { m_run->setEnabled(s == RunController::State::Idle && m_doc->hasModel()); });
  m_run->setEnabled(m_doc->hasModel());
}

void PruneTab::refresh() {
  const auto sweep = m_doc->sweep();
  m_chosen = -1;
  m_compare->setEnabled(false);
  if (!sweep) {
    m_plot->setCurve(SweepCurve());
    return;
  }
  SweepCurve curve;
  curve.title = QString("%1: pruning by %2").arg(modelName(), QString::fromStdString(sweep->order)).toStdString();
  for (const auto& p : sweep->points) {
    curve.ratios.push_back(p.ratio);
    curve.logitsKl.push_back(p.logitsKl);
    curve.top1.push_back(p.top1Agreement);
    curve.jsMean.push_back(p.jsMean);
  }
  m_plot->setCurve(curve);
  m_point->setText(tr("%1 heads ranked; %2 points. Click a point to mark its heads for pruning.")
                       .arg(sweep->totalHeads)
                       .arg(sweep->points.size()));
  emit shown();
}

void PruneTab::choosePoint(int index) {
  const auto sweep = m_doc->sweep();
  if (!sweep || index < 0 || index >= static_cast<int>(sweep->points.size())) return;
  m_chosen = index;
  m_plot->setSelectedPoint(index);
  const PruneSweepPoint& p = sweep->points[static_cast<size_t>(index)];
  m_doc->setPrunedHeads(AnalysisDocument::parseHeadNames(p.pruned));
  QStringList names;
  for (const auto& n : p.pruned) names << QString::fromStdString(n);
  m_point->setText(tr("%1 % pruned (%2 heads): logits KL %3, top-1 agreement %4 %, mean JS %5 — marked in the "
                      "Overview: %6")
                       .arg(p.ratio * 100, 0, 'f', 0)
                       .arg(p.pruned.size())
                       .arg(p.logitsKl, 0, 'g', 3)
                       .arg(p.top1Agreement * 100, 0, 'f', 1)
                       .arg(p.jsMean, 0, 'f', 3)
                       .arg(names.isEmpty() ? tr("none") : names.join(", ")));
  m_compare->setEnabled(!p.pruned.empty());
}

void PruneTab::writeFigure(const QString& path, int dpi) const {
  if (!m_doc->sweep()) throw std::runtime_error("run the pruning sweep first");
  ViewPiece piece;
  piece.plot = m_plot;
  piece.rect = QRect(QPoint(0, 0), m_plot->size().isEmpty() ? QSize(480, 320) : m_plot->size());
  writeViewFigure({piece}, path, dpi);
}

QJsonObject PruneTab::saveState() const {
  return {{"order", m_order->currentData().toString()}, {"ratios", m_ratios->text()}, {"seed", m_seed->value()}};
}

void PruneTab::restoreState(const QJsonObject& state) {
  const int i = m_order->findData(state.value("order").toString());
  if (i >= 0) m_order->setCurrentIndex(i);
  if (state.contains("ratios")) m_ratios->setText(state.value("ratios").toString());
  m_seed->setValue(state.value("seed").toInt());
}

}  // namespace attnscope
