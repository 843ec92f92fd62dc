#include "SessionController.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMessageBox>
#include <QSettings>

#include "AnalysisTab.h"

namespace attnscope {

SessionController::SessionController(AnalysisDocument* document, ViewState* view, RunController* runner,
                                     InputPanel* input, QTabWidget* tabs, QWidget* window)
    : QObject(window), m_doc(document), m_view(view), m_runner(runner), m_input(input), m_tabs(tabs),
      m_window(window) {
  connect(m_runner, &RunController::sessionRead, this, &SessionController::onRead);
  connect(m_runner, &RunController::sessionSaved, this, [this](const QString& path) {
    emit statusMessage(tr("Session saved to %1").arg(path));
    emit saved(path);
  });
}

QJsonObject SessionController::state(const QString& device) const {
  QJsonObject view = m_view->toJson();
  QJsonObject tabs;
  for (int i = 0; i < m_tabs->count(); ++i)
    if (auto* tab = qobject_cast<AnalysisTab*>(m_tabs->widget(i))) {
      tabs[tab->key()] = tab->saveState();
      if (i == m_tabs->currentIndex()) view["tab"] = tab->key();
    }
  QJsonObject state{{"model", m_doc->modelDir()}, {"device", device}, {"input", m_input->saveState()},
                    {"variant", m_input->variant()}, {"view", view},  {"tabs", tabs}};
  if (m_doc->promptLength() >= 0) state["generation"] = QJsonObject{{"prompt_length", m_doc->promptLength()}};
  return state;
}

bool SessionController::save(const QString& path, const QString& device) {
  if (!m_doc->capture() && !m_doc->comparison() && !m_doc->hasModel()) {
    QMessageBox::information(m_window, tr("Nothing to save"), tr("Open a model first."));
    return false;
  }
  const QByteArray json = QJsonDocument(state(device)).toJson(QJsonDocument::Compact);
  emit statusMessage(tr("Saving the session…"));
  m_runner->saveSession(path, QString::fromUtf8(json), m_doc->capture(), m_doc->comparison());
  return true;
}

bool SessionController::open(const QString& path, const QString& device, const QString& dtype) {
  if (!m_runner->openSession(path, device, dtype)) return false;
  m_phase = Phase::Reading;
  emit statusMessage(tr("Opening session %1…").arg(path));
  return true;
}

void SessionController::onRead(const QString& path, const QString& json, std::shared_ptr<const CaptureResult> capture,
                               std::shared_ptr<const ComparisonResult> comparison, bool modelFound) {
  m_state = QJsonDocument::fromJson(json.toUtf8()).object();
  m_capture = std::move(capture);
  m_comparison = std::move(comparison);
  QSettings().setValue("session/lastDir", QFileInfo(path).absolutePath());
  if (!modelFound) m_doc->setModelMissing(m_state.value("model").toString());
  adopt();
  if (modelFound) {
    m_phase = Phase::LoadingModel;  // modelLoaded() continues
    emit statusMessage(tr("Session %1: loading its model…").arg(path));
    return;
  }
  finish(tr("Session %1 opened without its model").arg(path));
}

void SessionController::adopt() {
  m_doc->setComparison(m_comparison);
  m_doc->setCapture(m_capture, m_state.value("generation").toObject().value("prompt_length").toInt(-1));
  m_input->restoreState(m_state.value("input").toObject());
  m_input->setVariant(m_state.value("variant").toString("full"));
  const QJsonObject view = m_state.value("view").toObject();
  QJsonObject tabs = m_state.value("tabs").toObject();
  if (!tabs.contains("compare") && m_state.contains("compare_specs"))  // sessions saved before per-tab states
    tabs["compare"] = QJsonObject{{"specs", m_state.value("compare_specs")}};
  for (int i = 0; i < m_tabs->count(); ++i)
    if (auto* tab = qobject_cast<AnalysisTab*>(m_tabs->widget(i))) {
      tab->restoreState(tabs.value(tab->key()).toObject());
      if (tab->key() == view.value("tab").toString() && m_tabs->isTabEnabled(i)) m_tabs->setCurrentIndex(i);
    }
  m_view->fromJson(view);
}

bool SessionController::modelLoaded() {
  if (m_phase != Phase::LoadingModel) return false;
  adopt();  // the new model's summary replaced the document's results: put the session's back
  RunRequest r;
  if (m_capture && m_doc->promptLength() < 0 && m_input->inputPresent() && m_input->makeRequest(r, nullptr) &&
      m_runner->run(r)) {
    m_phase = Phase::Rerunning;
    emit statusMessage(tr("Session restored; running its input again for importance and overlays…"));
    return true;
  }
  finish(tr("Session restored"));
  return true;
}

bool SessionController::runFinished() {
  if (m_phase != Phase::Rerunning) return false;
  // The engine now holds the session's input; the restored capture stays what is shown.
  finish(tr("Session restored"));
  return true;
}

bool SessionController::jobFailed(const QString& title, const QString& message) {
  if (m_phase == Phase::None) return false;
  const Phase was = m_phase;
  m_phase = Phase::None;
  if (was == Phase::Reading) return false;  // the session file itself: the window shows the error
  QMessageBox::warning(m_window, was == Phase::Rerunning ? tr("Session restored without a new run") : title,
                       was == Phase::Rerunning
                           ? tr("The session's captures are shown, but running its input again failed, so importance "
                                "and the input overlay are not available until the next Run:\n\n%1")
                                 .arg(message)
                           : tr("The session's captures are shown, but its model could not be opened:\n\n%1")
                                 .arg(message));
  emit opened();
  return true;
}

void SessionController::finish(const QString& message) {
  m_phase = Phase::None;
  emit statusMessage(message);
  emit opened();
}

}  // namespace attnscope
