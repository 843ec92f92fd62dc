#include "RunWorker.h"

#include "attnscope/Errors.h"

namespace attnscope {

RunWorker::RunWorker() {
  qRegisterMetaType<attnscope::ModelSummary>();
  qRegisterMetaType<std::shared_ptr<const attnscope::CaptureResult>>();
}

RunWorker::~RunWorker() = default;

void RunWorker::load(const QString& dir, const QString& device) {
  try {
    auto session = EngineSession::open(dir.toStdString(), device.toStdString());
    m_session = std::move(session);
    emit loaded(m_session->summary(), m_session->acceptsTextPair());
  } catch (const std::exception& e) {
    emit failed(tr("Cannot open model"), QString::fromStdString(e.what()));
  }
}

void RunWorker::run(const QString& text, const QString& pair, bool hasPair) {
  m_cancel = false;
  if (!m_session) {
    emit failed(tr("No model"), tr("Open a model folder first (File ▸ Open model…)."));
    return;
  }
  try {
    auto result = std::make_shared<CaptureResult>(m_session->runText(
        text.toStdString(), pair.toStdString(), hasPair, [this](int done, int total) { emit progress(done, total); },
        [this] { return m_cancel.load(); }));
    emit finished(result);
  } catch (const CancelledError&) {
    emit cancelled();
  } catch (const std::exception& e) {
    emit failed(tr("Cannot run the model"), QString::fromStdString(e.what()));
  }
}

void RunWorker::save(const QString& path) {
  try {
    if (!m_session) throw InputError("no model is open");
    m_session->saveLastCapture(path.toStdString());
    emit saved(path);
  } catch (const std::exception& e) {
    emit failed(tr("Cannot save the capture"), QString::fromStdString(e.what()));
  }
}

}  // namespace attnscope
