#include "LinesTab.h"

#include <QHBoxLayout>
#include <QVBoxLayout>
#include <stdexcept>

#include "ViewFigure.h"

namespace attnscope {

LinesTab::LinesTab(QWidget* parent) : AnalysisTab(parent) {
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  m_heads = new QComboBox(this);
  m_heads->addItem(tr("this head"));
  m_heads->addItem(tr("every head of the layer (one colour each)"));
  row->addWidget(m_heads);
  m_rule = new QLabel(this);  // the word-level rule, when words are shown
  row->addWidget(m_rule);
  row->addStretch(1);
  v->addLayout(row);
  m_lines = new TokenLineView(this);
  v->addWidget(m_lines, 1);
}

void LinesTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, &LinesTab::refresh);
  connect(m_view, &ViewState::headChanged, this, &LinesTab::refresh);
  connect(m_view, &ViewState::wordsChanged, this, &LinesTab::refresh);
  // The view state pins positions; at word level the lines join words.
  connect(m_view, &ViewState::pinChanged, this, [this](int q, int) { m_lines->setSelectedQuery(m_words.queryWord(q)); });
  connect(m_lines, &TokenLineView::querySelected, this,
          [this](int q) { m_view->setPin(m_words.queryPosition(q), m_view->pinKey()); });
  connect(m_heads, &QComboBox::currentIndexChanged, this, &LinesTab::refresh);
}

void LinesTab::refresh() {
  const auto capture = m_doc->capture();
  if (!capture || capture->stacks.empty()) {
    m_lines->setAttention(AttentionMatrix(), {}, {}, {});
    return;
  }
  const int si = currentStackIndex();
  const AttentionMatrix* a = capture->find(capture->stacks[si], m_view->layer());
  if (!a || m_view->head() >= a->heads) return;
  if (a->onDemand) {  // a long input: lines for every key of every query are not drawn
    m_lines->setAttention(AttentionMatrix(), {}, {}, {});
    emit statusMessage(tr("Token lines need the probabilities of the whole head; this long input's attention is "
                          "computed on demand in the head view"));
    return;
  }
  std::vector<int> heads;
  if (m_heads->currentIndex() == 1)
    for (int h = 0; h < a->heads; ++h) heads.push_back(h);
  else
    heads.push_back(m_view->head());
  m_words = WordLevel(m_view->words(), m_doc->summary(), capture->stackQueryLabels[si], capture->stackKeyLabels[si]);
  m_rule->setText(m_words.active() ? WordLevel::rule().mid(3) : QString());
  if (m_words.active())
    m_lines->setAttention(m_words.merge(*a), heads, m_words.queryLabels(), m_words.keyLabels());
  else
    m_lines->setAttention(*a, heads, capture->stackQueryLabels[si], capture->stackKeyLabels[si]);
  const int keep = m_view->pinQuery();
  m_lines->setSelectedQuery(keep >= 0 && keep < a->q ? m_words.queryWord(keep) : -1);
}

void LinesTab::writeFigure(const QString& path, int dpi) const {
  if (!m_doc->capture()) throw std::runtime_error("run the model first");
  ViewPiece p;
  p.widget = m_lines;
  p.rect = QRect(0, 0, m_lines->width(), std::min(m_lines->height(), m_lines->contentHeight()));
  writeViewFigure({p}, path, dpi);
}

QJsonObject LinesTab::saveState() const { return {{"heads", m_heads->currentIndex()}}; }

void LinesTab::restoreState(const QJsonObject& state) {
  m_heads->setCurrentIndex(std::clamp(state.value("heads").toInt(), 0, 1));
}

}  // namespace attnscope
