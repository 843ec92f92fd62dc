#include "CompareTab.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QVBoxLayout>
#include <stdexcept>

#include "ComparisonFigure.h"

namespace attnscope {

CompareTab::CompareTab(QWidget* parent) : AnalysisTab(parent), m_compare(new CompareView(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(m_compare);
  connect(m_compare, &CompareView::compareRequested, this, &CompareTab::compareRequested);
}

void CompareTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::comparisonChanged, this, [this] {
    const auto result = m_doc->comparison();
    if (!result) {
      m_compare->clear();
      return;
    }
    QStringList specs;
    for (size_t i = 1; i < result->panels.size(); ++i) specs << QString::fromStdString(result->panels[i].spec);
    m_compare->setSpecs(specs);  // the boxes say what was compared
    m_compare->setResult(result);
    // A pruned head is only zeros: open the head that changed most among those the variant kept.
    for (size_t i = 1; i < result->panels.size(); ++i) {
      const VariantPanel& p = result->panels[i];
      if (p.prunedHeads.empty()) continue;
      const auto pruned = AnalysisDocument::parseHeadNames(p.prunedHeads);
      int bestL = -1, bestH = -1;
      float best = -1;
      for (int l = 0; l < result->layers; ++l)
        for (int h = 0; h < result->heads; ++h) {
          const float js = p.jsGrid[static_cast<size_t>(l) * result->heads + h];
          if (!pruned.count({l, h}) && js > best) best = js, bestL = l, bestH = h;
        }
      if (bestL >= 0) {
        m_compare->differenceOf()->setCurrentIndex(static_cast<int>(i) - 1);
        m_view->setLayerHead(bestL, bestH);
        emit statusMessage(tr("%1: showing L%2 H%3, the kept head whose attention changed most (JS %4)")
                               .arg(QString::fromStdString(p.spec).left(60))
                               .arg(bestL)
                               .arg(bestH)
                               .arg(best, 0, 'f', 3));
      }
      break;
    }
    refresh();
  });
  connect(m_view, &ViewState::headChanged, this, &CompareTab::refresh);
  connect(m_view, &ViewState::pinChanged, m_compare, &CompareView::setPin);
  const auto words = [this] { m_compare->setWords(m_view->words() && m_doc->summary().modality == "text"); };
  connect(m_view, &ViewState::wordsChanged, this, words);
  connect(m_doc, &AnalysisDocument::modelChanged, this, words);
  connect(m_compare, &CompareView::pinChanged, m_view, &ViewState::setPin);
  connect(m_compare, &CompareView::headChosen, this, [this](int layer, int head) { m_view->setLayerHead(layer, head); });
  connect(m_view, &ViewState::appearanceChanged, this, [this] {
    m_compare->setColorMap(m_view->colorMap());
    m_compare->setScale(static_cast<HeatmapView::Scale>(m_view->scale()), m_view->gamma());
  });
  if (m_runner)
    connect(m_runner, &RunController::stateChanged, this,
            [this](RunController::State s) { m_compare->setBusy(s == RunController::State::Comparing); });
  m_compare->setColorMap(m_view->colorMap());
  m_compare->setScale(static_cast<HeatmapView::Scale>(m_view->scale()), m_view->gamma());
}

void CompareTab::refresh() {
  const auto result = m_doc->comparison();
  if (!result || result->panels.empty()) return;
  const auto& stacks = result->panels.front().capture.stacks;
  if (stacks.empty()) return;
  // The stack the view state names, when the comparison has it; else its first.
  std::string stack = stacks.front();
  for (const auto& s : stacks)
    if (QString::fromStdString(s) == m_view->stack()) stack = s;
  m_compare->showHead(stack, m_view->layer(), m_view->head());
}

void CompareTab::writeFigure(const QString& path, int dpi) const {
  const auto result = m_doc->comparison();
  if (!result) throw std::runtime_error("compare variants first (Compare variants tab)");
  FigureRequest r = figureRequest(path, dpi, "compare");
  r.stack = result->panels.front().capture.stacks.size() > 1 ? m_view->stack().toStdString() : std::string();
  writeComparisonFigure(r, *result, m_compare->differenceOf()->currentIndex() + 1);
}

QString CompareTab::figureName() const {
  return QString("%1-compare-L%2-H%3").arg(modelName()).arg(m_view->layer()).arg(m_view->head());
}

QJsonObject CompareTab::saveState() const {
  QJsonArray specs;
  for (const QString& s : m_compare->specs()) specs.append(s);
  return {{"specs", specs}};
}

void CompareTab::restoreState(const QJsonObject& state) {
  QStringList specs;
  for (const auto& v : state.value("specs").toArray()) specs << v.toString();
  if (!specs.isEmpty()) m_compare->setSpecs(specs);
}

}  // namespace attnscope
