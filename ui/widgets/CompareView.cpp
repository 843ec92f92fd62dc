#include "CompareView.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QSplitter>
#include <QVBoxLayout>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <cmath>
#include <cstdio>

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

  // The output effect first (what the variant does to the model's prediction), then the attention panels, the
  // difference map and the per-head JS grid, and the metrics table across the whole width.
  m_output = new QLabel(this);
  m_output->setTextFormat(Qt::RichText);
  m_output->setWordWrap(true);
  m_output->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_output->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Minimum);
  layout->addWidget(m_output);
  auto* vertical = new QSplitter(Qt::Vertical, this);
  m_vertical = vertical;
  auto* panels = new QSplitter(Qt::Horizontal, vertical);
  for (int i = 0; i < 4; ++i) {
    auto* h = new HeatmapView(panels);
    h->setVisible(i == 0);
    h->setMinimumSize(120, 120);
    m_panels.push_back(h);
  }
  m_panelSplitter = panels;
  auto* middle = new QSplitter(Qt::Horizontal, vertical);
  m_diff = new HeatmapView(middle);
  m_js = new HeatmapView(middle);
  m_diff->setMinimumSize(120, 120);
  m_js->setMinimumSize(120, 120);
  m_table = new QTableWidget(vertical);
  const QList<QPair<QString, QString>> columns = {
      {tr("variant"), tr("The attention variant (full = the model's own attention)")},
      {tr("ms"), tr("Median forward time in milliseconds")},
      {tr("× time"), tr("Forward time relative to full")},
      {tr("× FLOPs"), tr("Analytic attention FLOPs relative to full")},
      {tr("× memory"), tr("Analytic attention memory relative to full")},
      {tr("mean JS"), tr("Jensen–Shannon divergence from full, mean over every head's rows (nats; a pruned head "
                         "counts ln 2)")},
      {tr("top-1"), tr("Share of positions whose predicted token (argmax) is the same as full's")},
      {tr("logits KL"), tr("Mean KL(full ‖ variant) of the output distribution (nats)")}};
  m_table->setColumnCount(static_cast<int>(columns.size()));
  for (int c = 0; c < columns.size(); ++c) {
    auto* item = new QTableWidgetItem(columns[c].first);
    item->setToolTip(columns[c].second);
    m_table->setHorizontalHeaderItem(c, item);
  }
  m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  m_table->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  m_table->verticalHeader()->setVisible(false);
  m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 8);
  m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_table->setMinimumHeight(60);
  vertical->setStretchFactor(0, 3);
  vertical->setStretchFactor(1, 3);
  vertical->setStretchFactor(2, 1);
  vertical->setChildrenCollapsible(false);
  layout->addWidget(vertical, 1);

  // The panels pin words at word level; the view state (pinChanged) keeps positions.
  auto pinned = [this](int q, int k) {
    setPin(m_words.queryPosition(q), m_words.keyPosition(k));
    emit pinChanged(m_pinQuery, m_pinKey);
  };
  for (HeatmapView* h : m_panels) connect(h, &HeatmapView::pinChanged, this, pinned);
  connect(m_diff, &HeatmapView::pinChanged, this, pinned);
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
  m_output->clear();
  m_diff->clear();
  m_js->clear();
  for (auto* panel : m_panels) panel->setVisible(false);
}

void CompareView::showOutputEffect() {
  // Per variant: how the output moved (KL, top-1 agreement), which predictions changed, and the next tokens.
  auto esc = [](const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); };
  auto nextTokens = [&](const std::string& json) {
    const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(json)).object();
    QStringList parts;
    for (const auto& t : o.value("next_tokens").toArray())
      parts << QString("%1 %2").arg(t.toObject().value("token").toString().toHtmlEscaped())
                   .arg(t.toObject().value("probability").toDouble(), 0, 'f', 2);
    if (o.contains("label"))
      parts << QString("%1 %2").arg(o.value("label").toString().toHtmlEscaped()).arg(o.value("probability").toDouble(), 0, 'f', 2);
    return parts.mid(0, 3).join(" · ");
  };
  QString html;
  const QString fullNext = nextTokens(m_result->panels[0].predictionJson);
  for (size_t i = 1; i < m_result->panels.size(); ++i) {
    const VariantPanel& p = m_result->panels[i];
    QString line = QString("<b>%1</b>: logits KL %2, top-1 agreement %3 %")
                       .arg(esc(p.spec).left(80))
                       .arg(p.logitsKl, 0, 'g', 3)
                       .arg(p.top1Agreement * 100, 0, 'f', 1);
    if (p.positions > 0) {
      line += tr(" — %1 of %2 predictions changed").arg(p.changed.size()).arg(p.positions);
      QStringList examples;
      for (size_t c = 0; c < p.changed.size() && c < 3; ++c)
        examples << QString("after %1: %2 → <span style='color:#b22222'>%3</span>")
                        .arg(esc(p.changed[c].at), esc(p.changed[c].full), esc(p.changed[c].variant));
      if (!examples.isEmpty()) line += " (" + examples.join("; ") + (p.changed.size() > 3 ? "; …" : "") + ")";
    }
    const QString next = nextTokens(p.predictionJson);
    if (!next.isEmpty() && !fullNext.isEmpty()) line += tr("<br>&nbsp;&nbsp;next: full %1 | variant %2").arg(fullNext, next);
    html += (html.isEmpty() ? "" : "<br>") + line;
  }
  m_output->setText(html);
}

void CompareView::setResult(std::shared_ptr<const ComparisonResult> result) {
  m_result = std::move(result);
  {
    QSignalBlocker block(m_diffOf);
    m_diffOf->clear();
    for (size_t i = 1; i < m_result->panels.size(); ++i) m_diffOf->addItem(QString::fromStdString(m_result->panels[i].spec));
  }
  showOutputEffect();
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
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = new QTableWidgetItem(cells[c]);
      if (c == 0) item->setToolTip(cells[c]);
      else item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      m_table->setItem(static_cast<int>(i), c, item);
    }
  }
  for (size_t i = 0; i < m_panels.size(); ++i) m_panels[i]->setVisible(i < m_result->panels.size());
  QList<int> sizes;
  for (size_t i = 0; i < m_panels.size(); ++i) sizes << (i < m_result->panels.size() ? 1000 : 0);
  m_panelSplitter->setSizes(sizes);  // equal widths
  // Attention panels and the difference/JS row share the height; the table takes what its rows need.
  const int rows = static_cast<int>(m_result->panels.size());
  const int tableHeight = m_table->horizontalHeader()->height() + rows * m_table->verticalHeader()->defaultSectionSize() + 6;
  const int total = std::max(300, m_vertical->height());
  const int rest = std::max(200, total - tableHeight);
  m_vertical->setSizes({rest / 2, rest / 2, std::min(tableHeight, total / 3)});
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
  for (HeatmapView* h : m_panels) h->setPin(m_words.queryWord(query), m_words.keyWord(key));
  m_diff->setPin(m_words.queryWord(query), m_words.keyWord(key));
}

void CompareView::setWords(bool on) {
  if (on == m_wordsWanted) return;
  m_wordsWanted = on;
  refresh();
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
  m_words = WordLevel(m_wordsWanted, c0.stackQueryLabels[si], c0.stackKeyLabels[si]);
  const auto& queries = m_words.active() ? m_words.queryLabels() : c0.stackQueryLabels[si];
  const auto& keys = m_words.active() ? m_words.keyLabels() : c0.stackKeyLabels[si];
  const QString rule = m_words.active() ? WordLevel::rule() : QString();
  // At word level a matrix is merged (linear: the difference of merged panels is the merged difference).
  auto shown = [&](std::vector<float> v, int q, int k) { return m_words.merge(v, q, k); };
  const int rows = static_cast<int>(queries.size()), cols = static_cast<int>(keys.size());
  std::vector<std::vector<float>> values(mats.size());
  for (size_t i = 0; i < mats.size(); ++i) {
    const AttentionMatrix* a = mats[i];
    if (!a || m_head >= a->heads) continue;
    std::vector<float> v(static_cast<size_t>(a->q) * a->k);
    for (int q = 0; q < a->q; ++q)
      for (int k = 0; k < a->k; ++k) v[static_cast<size_t>(q) * a->k + k] = a->at(m_head, q, k);
    values[i] = shown(std::move(v), a->q, a->k);
  }
  if (m_words.active()) {  // one scale for the merged panels
    top = 0;
    for (const auto& v : values)
      for (float x : v) top = std::max(top, static_cast<double>(x));
    if (top <= 0) top = 1;
  }
  for (size_t i = 0; i < m_result->panels.size() && i < m_panels.size(); ++i) {
    const AttentionMatrix* a = mats[i];
    if (!a || m_head >= a->heads) continue;
    const auto& prunedList = m_result->panels[i].prunedHeads;
    const bool pruned = std::find(prunedList.begin(), prunedList.end(),
                                  "L" + std::to_string(m_layer) + "H" + std::to_string(m_head)) != prunedList.end();
    m_panels[i]->setMatrix(values[i], rows, cols, queries, keys,
                           QString("%1 — L%2 H%3%4%5")
                               .arg(QString::fromStdString(m_result->panels[i].spec).left(40))
                               .arg(m_layer)
                               .arg(m_head)
                               .arg(pruned ? tr(" (pruned)") : QString())
                               .arg(rule),
                           0.0, top);
  }
  // Difference of the chosen variant.
  const int vi = m_diffOf->currentIndex() + 1;
  if (vi >= 1 && vi < static_cast<int>(mats.size()) && mats[0] && mats[vi] && m_head < mats[0]->heads) {
    const AttentionMatrix *f = mats[0], *v = mats[vi];
    std::vector<float> d(static_cast<size_t>(f->q) * f->k);
    double span = 0, rise = 0, drop = 0;
    for (int q = 0; q < f->q; ++q)
      for (int k = 0; k < f->k; ++k) {
        const float x = v->at(m_head, q, k) - f->at(m_head, q, k);
        d[static_cast<size_t>(q) * f->k + k] = x;
        span = std::max(span, std::abs(static_cast<double>(x)));
        rise = std::max(rise, static_cast<double>(x));
        drop = std::min(drop, static_cast<double>(x));
      }
    if (span <= 0) span = 1e-6;
    // The title names both extremes: the largest rise and the largest drop (the colour range is symmetric).
    if (m_words.active()) {  // the range of the merged difference
      d = shown(std::move(d), f->q, f->k);
      span = 1e-6, rise = 0, drop = 0;
      for (float x : d) {
        span = std::max(span, std::abs(static_cast<double>(x)));
        rise = std::max(rise, static_cast<double>(x));
        drop = std::min(drop, static_cast<double>(x));
      }
    }
    m_diff->setMatrix(d, rows, cols, queries, keys,
                      QString("%1 − full (max +%2, min %3)")
                          .arg(QString::fromStdString(m_result->panels[vi].spec).left(30))
                          .arg(rise, 0, 'f', 3)
                          .arg(drop, 0, 'f', 3),
                      -span, span, "diverging", "difference");
    const VariantPanel& p = m_result->panels[vi];
    std::vector<std::string> rows, cols;
    for (int l = 0; l < m_result->layers; ++l) rows.push_back("L" + std::to_string(l));
    for (int h = 0; h < m_result->heads; ++h) cols.push_back("H" + std::to_string(h));
    const double jsTop = std::max(1e-6, static_cast<double>(*std::max_element(p.jsGrid.begin(), p.jsGrid.end())));
    m_js->setMatrix(p.jsGrid, m_result->layers, m_result->heads, rows, cols,
                    p.prunedHeads.empty() ? tr("JS per head") : tr("JS per head (× = pruned)"), 0.0, jsTop,
                    QString(), "mean JS (nats)", "layer", "head");
    std::vector<std::pair<int, int>> marks;
    for (const auto& name : p.prunedHeads) {
      int l = -1, h = -1;
      if (std::sscanf(name.c_str(), "L%dH%d", &l, &h) == 2) marks.push_back({l, h});
    }
    m_js->setMarkedCells(marks);
  } else {
    m_diff->clear();
    m_js->clear();
  }
  setPin(m_pinQuery, m_pinKey);  // positions, drawn as words at word level
}

}  // namespace attnscope
