#include "AnalysisTab.h"

#include <QFileInfo>

namespace attnscope {

void AnalysisTab::attach(AnalysisDocument* document, ViewState* view, RunController* runner) {
  m_doc = document;
  m_view = view;
  m_runner = runner;
  connectSignals();
  refresh();
}

void AnalysisTab::setActive(bool active) {
  if (active == m_active) return;
  m_active = active;
  if (active && m_doc) refresh();
}

bool AnalysisTab::hasFigure() const { return m_doc && m_doc->capture(); }

QString AnalysisTab::figureName() const {
  return QString("%1-%2-L%3-H%4").arg(modelName(), key()).arg(m_view->layer()).arg(m_view->head());
}

std::string AnalysisTab::currentStack() const {
  const auto capture = m_doc ? m_doc->capture() : nullptr;
  if (!capture || capture->stacks.empty()) return "self";
  return capture->stacks[m_doc->stackIndex(m_view->stack())];
}

FigureRequest AnalysisTab::figureRequest(const QString& path, int dpi, const std::string& kind) const {
  FigureRequest r;
  r.kind = kind;
  r.out = path.toStdString();
  r.format = QFileInfo(path).suffix().toLower().toStdString();
  r.dpi = dpi;
  r.stack = currentStack();
  r.layer = m_view->layer();
  r.head = m_view->head();
  r.colormap = m_view->colorMap().toStdString();
  return r;
}

int AnalysisTab::currentStackIndex() const { return m_doc ? m_doc->stackIndex(m_view->stack()) : 0; }

QString AnalysisTab::modelName() const {
  const QString dir = m_doc ? m_doc->modelDir() : QString();
  const QString name = QFileInfo(dir).fileName();
  return name.isEmpty() ? QString("attention") : name;
}

}  // namespace attnscope
