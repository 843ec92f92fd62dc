#include "CompareView.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "Vocabulary.h"

namespace attnscope {

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("full vs"), this));
  QStringList presets = variantPresets();
  presets.replace(0, QString());  // an empty field skips the panel ("full" is always the first)
  const QStringList& defaults = defaultComparison();
  for (int i = 0; i < 3; ++i) {
    auto* c = new QComboBox(this);
    c->setEditable(true);
    c->addItems(presets);
    c->setCurrentText(defaults[i]);
    c->setMinimumContentsLength(8);
    c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    c->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    c->setToolTip(tr("Variant spec (leave empty to skip)"));
    m_specs.push_back(c);
    row->addWidget(c);
  }
  m_go = new QPushButton(tr("Compare"), this);
  m_go->setToolTip(tr("Run full and every variant on the current input"));
  row->addWidget(m_go);
  row->addWidget(new QLabel(tr("difference of"), this));
  m_diffOf = new QComboBox(this);
  m_diffOf->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  m_diffOf->setMinimumContentsLength(8);
  row->addWidget(m_diffOf);
  layout->addLayout(row);

  auto* vertical = new QSplitter(Qt::Vertical, this);
  auto* panels = new QSplitter(Qt::Horizontal, vertical);
  for (int i = 0; i < 4; ++i) {
    auto* h = new HeatmapView(panels);
    h->setVisible(i == 0);
    m_panels.push_back(h);
  }
  m_panelSplitter = panels;
  auto* bottom = new QSplitter(Qt::Horizontal, vertical);
  m_table = new QTableWidget(bottom);
  m_table->setColumnCount(8);
  m_table->setHorizontalHeaderLabels({tr("variant"), tr("ms"), tr("× full"), tr("FLOPs"), tr("attn mem"),
                                      tr("mean JS"), tr("top-1 agree"), tr("logits KL")});
  m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_diff = new HeatmapView(bottom);
  m_js = new HeatmapView(bottom);
  for (auto* w : {static_cast<QWidget*>(m_table), static_cast<QWidget*>(m_diff), static_cast<QWidget*>(m_js)})
    w->setMinimumWidth(120);
  for (auto* p : m_panels) p->setMinimumWidth(120);
  vertical->setStretchFactor(0, 3);
  vertical->setStretchFactor(1, 2);
  layout->addWidget(vertical, 1);

  for (HeatmapView* h : m_panels)
    connect(h, &HeatmapView::pinChanged, this, [this](int q, int k) {
      setPin(q, k);
      emit pinChanged(q, k);
    });
  connect(m_diff, &HeatmapView::pinChanged, this, [this](int q, int k) {
    setPin(q, k);
    emit pinChanged(q, k);
  });
  connect(m_go, &QPushButton::clicked, this, [this] { emit compareRequested(specs()); });
  connect(m_diffOf, &QComboBox::currentIndexChanged, this, [this] { refresh(); });
  connect(m_table, &QTableWidget::currentCellChanged, this, [this](int r) {
    if (r > 0 && r - 1 < m_diffOf->count()) m_diffOf->setCurrentIndex(r - 1);
  });
  connect(m_js->plot(), &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    if (!m_result) return;
    const int head = static_cast<int>(std::lround(m_js->plot()->xAxis->pixelToCoord(e->pos().x())));
    const int layer = static_cast<int>(std::lround(m_js->plot()->yAxis->pixelToCoord(e->pos().y())));
    if (layer >= 0 && layer < m_result->layers && head >= 0 && head < m_result->heads) emit headChosen(layer, head);
  });
}

QStringList CompareView::specs() const {
  QStringList out;
  for (auto* c : m_specs)
    if (!c->currentText().trimmed().isEmpty() && c->currentText().trimmed() != "full") out << c->currentText().trimmed();
  return out;
}

void CompareView::setSpecs(const QStringList& specs) {
  for (size_t i = 0; i < m_specs.size(); ++i) m_specs[i]->setCurrentText(i < static_cast<size_t>(specs.size()) ? specs[i] : "");
}

void CompareView::setBusy(bool busy) { m_go->setEnabled(!busy); }

void CompareView::setColorMap(const QString& name) {
  for (auto* p : m_panels) p->setColorMap(name);
  m_js->setColorMap(name);
}

void CompareView::clear() {
  m_result.reset();
  {
    QSignalBlocker block(m_diffOf);
    m_diffOf->clear();
  }
  m_table->setRowCount(0);
  for (auto* panel : m_panels) panel->setVisible(false);
}

void CompareView::setResult(std::shared_ptr<const ComparisonResult> result) {
  m_result = std::move(result);
  {
    QSignalBlocker block(m_diffOf);
    m_diffOf->clear();
    for (size_t i = 1; i < m_result->panels.size(); ++i) m_diffOf->addItem(QString::fromStdString(m_result->panels[i].spec));
  }
  m_table->setRowCount(static_cast<int>(m_result->panels.size()));
  for (size_t i = 0; i < m_result->panels.size(); ++i) {
    const VariantPanel& p = m_result->panels[i];
    const QStringList cells = {QString::fromStdString(p.spec),
                               QString::number(p.seconds * 1000, 'f', 1),
                               QString::number(p.timeRatio, 'f', 2),
                               QString::number(p.flopsRatio, 'f', 2),
                               QString::number(p.memoryRatio, 'f', 2),
                               QString::number(p.meanJs, 'f', 4),
                               QString::number(p.top1Agreement, 'f', 3),
                               QString::number(p.logitsKl, 'g', 3)};
    for (int c = 0; c < cells.size(); ++c) m_table->setItem(static_cast<int>(i), c, new QTableWidgetItem(cells[c]));
  }
  for (size_t i = 0; i < m_panels.size(); ++i) m_panels[i]->setVisible(i < m_result->panels.size());
  QList<int> sizes;
  for (size_t i = 0; i < m_panels.size(); ++i) sizes << (i < m_result->panels.size() ? 1000 : 0);
  m_panelSplitter->setSizes(sizes);  // equal widths
  refresh();
}

void CompareView::showHead(const std::string& stack, int layer, int head) {
  m_stack = stack;
  m_layer = layer;
  m_head = head;
  refresh();
}

void CompareView::setPin(int query, int key) {
  m_pinQuery = query;
  m_pinKey = key;
  for (HeatmapView* h : m_panels) h->setPin(query, key);
  m_diff->setPin(query, key);
}

void CompareView::setScale(HeatmapView::Scale scale, double gamma) {
  for (HeatmapView* h : m_panels) h->setScale(scale, gamma);
}

void CompareView::refresh() {
  if (!m_result || m_result->panels.empty()) return;
  // One colour scale for every panel: 0 .. the largest weight any of them shows for this head.
  double top = 0;
  std::vector<const AttentionMatrix*> mats;
  for (const auto& p : m_result->panels) {
    const AttentionMatrix* a = p.capture.find(m_stack, m_layer);
    mats.push_back(a);
    if (a && m_head < a->heads)
      for (int i = 0; i < a->q; ++i)
        for (int j = 0; j < a->k; ++j) top = std::max(top, static_cast<double>(a->at(m_head, i, j)));
  }
  if (top <= 0) top = 1;
  const CaptureResult& c0 = m_result->panels[0].capture;
  size_t si = 0;
  while (si < c0.stacks.size() && c0.stacks[si] != m_stack) ++si;
  if (si == c0.stacks.size()) si = 0;
  for (size_t i = 0; i < m_result->panels.size() && i < m_panels.size(); ++i) {
    const AttentionMatrix* a = mats[i];
    if (!a || m_head >= a->heads) continue;
    std::vector<float> v(static_cast<size_t>(a->q) * a->k);
    for (int q = 0; q < a->q; ++q)
      for (int k = 0; k < a->k; ++k) v[static_cast<size_t>(q) * a->k + k] = a->at(m_head, q, k);
    m_panels[i]->setMatrix(v, a->q, a->k, c0.stackQueryLabels[si], c0.stackKeyLabels[si],
                           QString("%1 — L%2 H%3").arg(QString::fromStdString(m_result->panels[i].spec)).arg(m_layer).arg(m_head),
                           0.0, top);
  }
  // Difference of the chosen variant.
  const int vi = m_diffOf->currentIndex() + 1;
  if (vi >= 1 && vi < static_cast<int>(mats.size()) && mats[0] && mats[vi] && m_head < mats[0]->heads) {
    const AttentionMatrix *f = mats[0], *v = mats[vi];
    std::vector<float> d(static_cast<size_t>(f->q) * f->k);
    double span = 0;
    for (int q = 0; q < f->q; ++q)
      for (int k = 0; k < f->k; ++k) {
        const float x = v->at(m_head, q, k) - f->at(m_head, q, k);
        d[static_cast<size_t>(q) * f->k + k] = x;
        span = std::max(span, std::abs(static_cast<double>(x)));
      }
    if (span <= 0) span = 1e-6;
    m_diff->setMatrix(d, f->q, f->k, c0.stackQueryLabels[si], c0.stackKeyLabels[si],
                      QString("%1 − full").arg(QString::fromStdString(m_result->panels[vi].spec)), -span, span,
                      "diverging", "difference");
    const VariantPanel& p = m_result->panels[vi];
    std::vector<std::string> rows, cols;
    for (int l = 0; l < m_result->layers; ++l) rows.push_back("L" + std::to_string(l));
    for (int h = 0; h < m_result->heads; ++h) cols.push_back("H" + std::to_string(h));
    const double jsTop = std::max(1e-6, static_cast<double>(*std::max_element(p.jsGrid.begin(), p.jsGrid.end())));
    m_js->setMatrix(p.jsGrid, m_result->layers, m_result->heads, rows, cols,
                    QString("JS per head: %1").arg(QString::fromStdString(p.spec)), 0.0,
                    jsTop, QString(), "mean JS (nats)", "layer", "head");
  } else {
    m_diff->clear();
    m_js->clear();
  }
  for (HeatmapView* h : m_panels) h->setPin(m_pinQuery, m_pinKey);
  m_diff->setPin(m_pinQuery, m_pinKey);
}

}  // namespace attnscope
