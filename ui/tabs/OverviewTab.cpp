#include "OverviewTab.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QScrollArea>
#include <QVBoxLayout>
#include <algorithm>
#include <set>
#include <stdexcept>

#include "FigureExport.h"
#include "WordLevel.h"

namespace attnscope {

OverviewTab::OverviewTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  m_frame = new QComboBox(this);
  m_frame->addItem(tr("no frame colour"), "");
  m_frame->addItem(tr("frame: entropy"), "entropy");
  m_frame->addItem(tr("frame: mean distance"), "distance");
  m_frame->addItem(tr("frame: sink mass"), "sink");
  m_frame->addItem(tr("frame: importance"), "importance");
  m_frame->setToolTip(tr("Colour each thumbnail's frame by a head metric"));
  row->addWidget(m_frame);
  row->addSpacing(12);
  m_pruneMode = new QPushButton(tr("Choose heads to prune"), this);
  m_pruneMode->setCheckable(true);
  m_pruneMode->setToolTip(tr("While pressed, a click on a head marks it for pruning (click again to unmark)"));
  m_count = new QSpinBox(this);
  m_count->setRange(1, 4096);
  m_count->setValue(4);
  m_count->setToolTip(tr("How many heads to prune"));
  m_leastImportant = new QPushButton(tr("least important"), this);
  m_leastImportant->setToolTip(tr("Mark the N heads of lowest importance |∂L/∂ξ| (Michel et al. 2019) — the order "
                                  "prune:ratio=… uses"));
  m_compare = new QPushButton(tr("Compare pruned vs full"), this);
  m_compare->setToolTip(tr("Run full and the model without the marked heads side by side (Compare variants tab)"));
  m_clear = new QPushButton(tr("Clear"), this);
  m_prunedLabel = new QLabel(this);
  m_prunedLabel->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  row->addWidget(m_pruneMode);
  row->addWidget(m_count);
  row->addWidget(m_leastImportant);
  row->addWidget(m_compare);
  row->addWidget(m_clear);
  row->addWidget(m_prunedLabel, 1);
  v->addLayout(row);
  m_sampledNote = new QLabel(tr("Long input: each thumbnail shows 48 evenly spaced query rows (first and last "
                                  "included), each key block drawn as its maximum; the head view computes any window "
                                  "exactly."),
                               this);
  m_sampledNote->setWordWrap(true);
  m_sampledNote->setVisible(false);
  v->addWidget(m_sampledNote);
  m_wordsNote = new QLabel(tr("Words: each thumbnail merges sub-word pieces (keys summed, queries averaged)."), this);
  m_wordsNote->setVisible(false);
  v->addWidget(m_wordsNote);
  auto* scroll = new QScrollArea(this);
  m_overview = new OverviewView(scroll);
  scroll->setWidget(m_overview);
  scroll->setWidgetResizable(true);
  v->addWidget(scroll, 1);
}

void OverviewTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, &OverviewTab::refresh);
  connect(m_view, &ViewState::headChanged, this, &OverviewTab::refresh);
  connect(m_view, &ViewState::wordsChanged, this, &OverviewTab::refresh);
  connect(m_view, &ViewState::appearanceChanged, this, [this] { m_overview->setColorMap(m_view->colorMap()); });
  connect(m_overview, &OverviewView::headChosen, this, [this](int layer, int head) {
    if (m_pruneMode->isChecked()) {
      m_doc->togglePruned(layer, head);
      return;
    }
    m_view->setLayerHead(layer, head);
    emit headChosen(layer, head);
  });
  connect(m_doc, &AnalysisDocument::prunedHeadsChanged, this, &OverviewTab::showPruned);
  connect(m_leastImportant, &QPushButton::clicked, this, [this] { pruneLeastImportant(m_count->value()); });
  connect(m_clear, &QPushButton::clicked, this, [this] { m_doc->setPrunedHeads({}); });
  connect(m_compare, &QPushButton::clicked, this, [this] {
    if (!m_doc->pruneSpec().isEmpty()) emit compareRequested({m_doc->pruneSpec()});
  });
  connect(m_doc, &AnalysisDocument::modelChanged, this, [this] {
    m_count->setMaximum(std::max(1, m_doc->summary().layers * m_doc->summary().heads));
  });
  showPruned();
  connect(m_frame, &QComboBox::currentIndexChanged, this, &OverviewTab::requestFrame);
  if (m_runner)
    connect(m_runner, &RunController::headMetricReady, this,
            [this](quint64 id, const std::vector<float>& v, int layers, int heads) {
              if (id == m_importance && id != 0) {
                // Least important first, ties by (layer, head): the prune variant's own order.
                std::vector<std::pair<float, std::pair<int, int>>> order;
                for (int l = 0; l < layers; ++l)
                  for (int h = 0; h < heads; ++h) order.push_back({v[static_cast<size_t>(l) * heads + h], {l, h}});
                std::stable_sort(order.begin(), order.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
                std::set<std::pair<int, int>> chosen;
                for (int i = 0; i < m_pruneCount && i < static_cast<int>(order.size()); ++i) chosen.insert(order[i].second);
                m_importance = 0;
                m_doc->setPrunedHeads(chosen);
                emit statusMessage(tr("Marked the %1 least important heads").arg(chosen.size()));
                return;
              }
              if (id != m_pending) return;
              m_overview->setFrameMetric(v, layers, heads, m_frame->currentText());
              emit shown();
            });
  if (m_runner) {
    connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
      if (id == m_pending || id == m_importance || id == m_thumbnails) emit statusMessage(message);
    });
    connect(m_runner, &RunController::thumbnailsReady, this,
            [this](quint64 id, std::shared_ptr<const CaptureResult> thumbnails) {
              if (id != m_thumbnails) return;
              m_overview->setCapture(thumbnails, m_shownStack);
              m_overview->setSelected(m_view->layer(), m_view->head());
              emit shown();
            });
  }
  m_overview->setColorMap(m_view->colorMap());
}

void OverviewTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->stacks.empty()) {
    m_overview->setCapture(nullptr, "self");
    m_overview->setFrameMetric({}, 0, 0, QString());
    m_shownCapture = nullptr;
    m_pending = 0;
    return;
  }
  const std::string stack = currentStack();
  m_sampledNote->setVisible(capture->onDemand());
  if (capture->onDemand()) {  // a long input: thumbnails from evenly spaced query rows, computed on the engine thread
    if (m_shownStack != stack || m_shownCapture != capture.get()) {
      m_shownStack = stack;
      m_shownCapture = capture.get();
      m_overview->setCapture(nullptr, stack);
      m_thumbnails = m_runner->thumbnails(capture, QString::fromStdString(stack));
    }
    m_overview->setSelected(m_view->layer(), m_view->head());
    return;
  }
  const int si = currentStackIndex();
  const WordLevel words(m_view->words(), m_doc->summary(), capture->stackQueryLabels[si], capture->stackKeyLabels[si]);
  m_wordsNote->setVisible(words.active());
  if (m_shownStack != stack || m_shownCapture != capture.get() || m_shownWords != words.active()) {
    if (words.active()) {  // the shown stack's heads at word level (frame metrics stay per head of the capture)
      auto merged = std::make_shared<CaptureResult>();
      merged->stacks = {stack};
      merged->stackQueryLabels = {words.queryLabels()};
      merged->stackKeyLabels = {words.keyLabels()};
      merged->queryLabels = words.queryLabels();
      merged->keyLabels = words.keyLabels();
      for (const AttentionMatrix& a : capture->layers)
        if (a.stack == stack) merged->layers.push_back(words.merge(a));
      m_overview->setCapture(merged, stack);
    } else {
      m_overview->setCapture(capture, stack);
    }
    if (m_shownCapture != capture.get() || m_shownStack != stack) requestFrame();
    m_shownStack = stack;
    m_shownCapture = capture.get();
    m_shownWords = words.active();
  }
  m_overview->setSelected(m_view->layer(), m_view->head());
}

void OverviewTab::pruneLeastImportant(int count) {
  if (!m_runner || !m_doc->capture()) {
    emit statusMessage(tr("Run the model first: importance is measured on the current input"));
    return;
  }
  m_pruneCount = count;
  m_importance = m_runner->headMetric(m_doc->capture(), QString::fromStdString(currentStack()), "importance");
}

void OverviewTab::showPruned() {
  m_overview->setMarkedHeads(m_doc->prunedHeads());
  const QStringList names = m_doc->prunedHeadNames();
  m_compare->setEnabled(!names.isEmpty());
  m_clear->setEnabled(!names.isEmpty());
  m_prunedLabel->setText(names.isEmpty() ? tr("no heads marked")
                                         : tr("%n head(s) marked: ", "", names.size()) + names.join(", "));
  m_prunedLabel->setToolTip(m_doc->pruneSpec());
}

void OverviewTab::requestFrame() {
  const QString metric = m_frame->currentData().toString();
  if (metric.isEmpty() || !m_doc->capture() || !m_runner) {
    m_pending = 0;
    m_overview->setFrameMetric({}, 0, 0, QString());
    return;
  }
  m_pending = m_runner->headMetric(m_doc->capture(), QString::fromStdString(currentStack()), metric);
}

void OverviewTab::writeFigure(const QString& path, int dpi) const {
  const auto capture = m_doc->capture();
  if (!capture) throw std::runtime_error("run the model first");
  const FigureRequest r = figureRequest(path, dpi, "grid");
  renderFigure(r, {*capture}, {capture->variant.empty() ? "full" : capture->variant});
}

QJsonObject OverviewTab::saveState() const {
  return {{"frame", m_frame->currentData().toString()}, {"pruned", m_doc ? m_doc->prunedHeadNames().join(',') : QString()}};
}

void OverviewTab::restoreState(const QJsonObject& state) {
  const int i = m_frame->findData(state.value("frame").toString());
  if (i >= 0) m_frame->setCurrentIndex(i);
  if (m_doc) {
    std::vector<std::string> names;
    for (const QString& n : state.value("pruned").toString().split(',', Qt::SkipEmptyParts)) names.push_back(n.toStdString());
    m_doc->setPrunedHeads(AnalysisDocument::parseHeadNames(names));
  }
}

}  // namespace attnscope
