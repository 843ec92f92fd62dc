#include "OverviewTab.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QScrollArea>
#include <QVBoxLayout>
#include <stdexcept>

#include "FigureExport.h"

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
  row->addStretch(1);
  v->addLayout(row);
  auto* scroll = new QScrollArea(this);
  m_overview = new OverviewView(scroll);
  scroll->setWidget(m_overview);
  scroll->setWidgetResizable(true);
  v->addWidget(scroll, 1);
}

void OverviewTab::connectSignals() {
  connect(m_doc, &AnalysisDocument::captureChanged, this, &OverviewTab::refresh);
  connect(m_view, &ViewState::headChanged, this, &OverviewTab::refresh);
  connect(m_view, &ViewState::appearanceChanged, this, [this] { m_overview->setColorMap(m_view->colorMap()); });
  connect(m_overview, &OverviewView::headChosen, this, [this](int layer, int head) {
    m_view->setLayerHead(layer, head);
    emit headChosen(layer, head);
  });
  connect(m_frame, &QComboBox::currentIndexChanged, this, &OverviewTab::requestFrame);
  if (m_runner)
    connect(m_runner, &RunController::headMetricReady, this,
            [this](quint64 id, const std::vector<float>& v, int layers, int heads) {
              if (id != m_pending) return;
              m_overview->setFrameMetric(v, layers, heads, m_frame->currentText());
              emit shown();
            });
  if (m_runner)
    connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
      if (id == m_pending) emit statusMessage(message);
    });
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
  if (m_shownStack != stack || m_shownCapture != capture.get()) {
    m_overview->setCapture(capture, stack);
    m_shownStack = stack;
    m_shownCapture = capture.get();
    requestFrame();
  }
  m_overview->setSelected(m_view->layer(), m_view->head());
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
  FigureRequest r;
  r.kind = "grid";
  r.out = path.toStdString();
  r.format = QFileInfo(path).suffix().toLower().toStdString();
  r.dpi = dpi;
  r.stack = currentStack();
  r.colormap = m_view->colorMap().toStdString();
  renderFigure(r, {*capture}, {capture->variant.empty() ? "full" : capture->variant});
}

QJsonObject OverviewTab::saveState() const { return {{"frame", m_frame->currentData().toString()}}; }

void OverviewTab::restoreState(const QJsonObject& state) {
  const int i = m_frame->findData(state.value("frame").toString());
  if (i >= 0) m_frame->setCurrentIndex(i);
}

}  // namespace attnscope
