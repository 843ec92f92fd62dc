#include "HeadTab.h"

#include <QFileInfo>
#include <QVBoxLayout>
#include <stdexcept>

#include "FigureExport.h"

namespace attnscope {

HeadTab::HeadTab(QWidget* parent) : AnalysisTab(parent), m_heatmap(new HeatmapView(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(m_heatmap);
  setFocusProxy(m_heatmap);
}

void HeadTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::modelChanged, this, [this] { m_heatmap->clear(); });
  connect(m_doc, &AnalysisDocument::captureChanged, this, &HeadTab::refresh);
  connect(m_view, &ViewState::headChanged, this, &HeadTab::refresh);
  connect(m_view, &ViewState::appearanceChanged, this, &HeadTab::applyAppearance);
  connect(m_view, &ViewState::wordsChanged, this, &HeadTab::refresh);
  // The view state pins positions; at word level the heatmap pins words.
  connect(m_view, &ViewState::pinChanged, this,
          [this](int q, int k) { m_heatmap->setPin(m_words.queryWord(q), m_words.keyWord(k)); });
  connect(m_heatmap, &HeatmapView::pinChanged, this, [this](int q, int k) {
    const auto capture = m_doc->capture();
    const AttentionMatrix* a = capture ? capture->find(currentStack(), m_view->layer()) : nullptr;
    if (a && !a->sinkMass.empty() && k >= a->k) k = -1;  // the ⟨sink⟩ column is no position
    m_view->setPin(m_words.queryPosition(q), m_words.keyPosition(k));
  });
  connect(m_heatmap, &HeatmapView::hovered, this, &AnalysisTab::statusMessage);
  // A long input's head: each window the view shows is computed on the engine's thread at screen resolution.
  connect(m_heatmap, &HeatmapView::tileWanted, this, [this](int x0, int x1, int y0, int y1, int bx, int by) {
    const auto capture = m_doc->capture();
    if (!capture || !capture->source) return;
    HeadTile t;
    t.stack = QString::fromStdString(capture->stacks[currentStackIndex()]);
    t.layer = m_view->layer();
    t.head = m_view->head();
    t.x0 = x0, t.x1 = x1, t.y0 = y0, t.y1 = y1, t.bx = bx, t.by = by;
    m_pendingTile = m_runner->headTile(capture, t);
  });
  connect(m_runner, &RunController::tileReady, this, [this](quint64 id, const HeadTile& t) {
    if (id != m_pendingTile) return;  // only the answer to the latest window counts
    m_heatmap->setTile(t.x0, t.x1, t.y0, t.y1, t.bx, t.by, t.maxima);
  });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id == m_pendingTile) emit statusMessage(message);
  });
  applyAppearance();
}

void HeadTab::applyAppearance() {
  m_heatmap->setColorMap(m_view->colorMap());
  m_heatmap->setScale(static_cast<HeatmapView::Scale>(m_view->scale()), m_view->gamma());
  if (m_view->autoRange()) m_heatmap->setAutoRange();
  else m_heatmap->setRange(m_view->rangeLo(), m_view->rangeHi());
}

void HeadTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->stacks.empty()) {
    m_heatmap->clear();
    return;
  }
  const int si = currentStackIndex();
  const std::string stack = capture->stacks[si];
  const AttentionMatrix* a = capture->find(stack, m_view->layer());
  if (!a || m_view->head() >= a->heads) return;
  const QString title = tr("%1 — %2layer %3, head %4")
                            .arg(modelName())
                            .arg(stack == "self" ? QString() : QString::fromStdString(stack) + " ")
                            .arg(m_view->layer())
                            .arg(a->headIndex[m_view->head()]);
  if (a->onDemand && capture->source) {
    const auto source = capture->source;
    const int layer = m_view->layer(), head = m_view->head();
    m_heatmap->setRemote(a->q, a->k, capture->stackQueryLabels[si], capture->stackKeyLabels[si],
                         title + tr(" (computed on demand)"), [source, stack, layer, head](int r0, int r1, int c0, int c1) {
                           return source->cells(stack, layer, head, r0, r1, c0, c1);
                         });
    m_words = WordLevel();
  } else {
    m_words = WordLevel(m_view->words(), m_doc->summary(), capture->stackQueryLabels[si], capture->stackKeyLabels[si]);
    if (m_words.active())
      m_heatmap->setAttention(m_words.merge(*a), m_view->head(), m_words.queryLabels(), m_words.keyLabels(),
                              title + WordLevel::rule());
    else if (!a->sinkMass.empty())
      showWithSink(*a, capture->stackQueryLabels[si], capture->stackKeyLabels[si], title);
    else
      m_heatmap->setAttention(*a, m_view->head(), capture->stackQueryLabels[si], capture->stackKeyLabels[si], title);
  }
  m_heatmap->setPin(m_words.queryWord(m_view->pinQuery()), m_words.keyWord(m_view->pinKey()));
}

void HeadTab::showWithSink(const AttentionMatrix& a, const std::vector<std::string>& queryLabels,
                           std::vector<std::string> keyLabels, const QString& title) {
  // The learned sink as one more key column: each row then sums to 1, and the mass Hugging Face leaves out shows.
  AttentionMatrix m;
  m.stack = a.stack;
  m.layer = a.layer;
  m.headIndex = {a.headIndex[static_cast<size_t>(m_view->head())]};
  m.heads = 1;
  m.q = a.q;
  m.k = a.k + 1;
  m.data.resize(static_cast<size_t>(m.q) * m.k);
  for (int i = 0; i < a.q; ++i) {
    for (int j = 0; j < a.k; ++j) m.data[static_cast<size_t>(i) * m.k + j] = a.at(m_view->head(), i, j);
    m.data[static_cast<size_t>(i) * m.k + a.k] = a.sinkAt(m_view->head(), i);
  }
  keyLabels.push_back("⟨sink⟩");
  m_heatmap->setAttention(m, 0, queryLabels, keyLabels, title + tr(" — last column: the learned sink"));
}

void HeadTab::writeFigure(const QString& path, int dpi) const {
  const auto capture = m_doc->capture();
  if (!capture) throw std::runtime_error("run the model first");
  const FigureRequest r = figureRequest(path, dpi, "head");
  renderFigure(r, {*capture}, {capture->variant.empty() ? "full" : capture->variant});
}

}  // namespace attnscope
