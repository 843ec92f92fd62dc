#include "RunWorker.h"

#include "attnscope/Errors.h"

namespace attnscope {

RunWorker::RunWorker() {
  qRegisterMetaType<attnscope::ModelSummary>();
  qRegisterMetaType<std::shared_ptr<const attnscope::CaptureResult>>();
  qRegisterMetaType<attnscope::RunRequest>();
  qRegisterMetaType<std::vector<float>>();
  qRegisterMetaType<std::shared_ptr<const attnscope::ComparisonResult>>();
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
  RunRequest r;
  r.text = text.toStdString();
  r.pair = pair.toStdString();
  r.hasPair = hasPair;
  runRequest(r);
}

void RunWorker::overlay(const QString& stack, int layer, int head, int query, bool rollout, double alpha,
                        const QString& colormap) {
  try {
    if (!m_session) throw InputError("no model is open");
    EngineSession::Picture p = m_session->overlay(stack.toStdString(), layer, head, query, rollout, alpha,
                                                  colormap.toStdString());
    QImage img(p.rgb.data(), p.width, p.height, p.width * 3, QImage::Format_RGB888);
    emit overlayReady(img.copy(), QString::fromStdString(p.title));
  } catch (const std::exception& e) {
    emit overlayFailed(QString::fromStdString(e.what()));
  }
}

void RunWorker::runRequest(const RunRequest& request) {
  m_cancel = false;
  if (!m_session) {
    emit failed(tr("No model"), tr("Open a model folder first (File ▸ Open model…)."));
    return;
  }
  try {
    auto result = std::make_shared<CaptureResult>(m_session->run(
        request, [this](int done, int total) { emit progress(done, total); }, [this] { return m_cancel.load(); }));
    emit finished(result);
  } catch (const CancelledError&) {
    emit cancelled();
  } catch (const std::exception& e) {
    emit failed(tr("Cannot run the model"), QString::fromStdString(e.what()));
  }
}

void RunWorker::compare(const RunRequest& request, const QStringList& specs) {
  m_cancel = false;
  if (!m_session) {
    emit failed(tr("No model"), tr("Open a model folder first (File ▸ Open model…)."));
    return;
  }
  try {
    std::vector<std::string> list;
    for (const auto& s : specs) list.push_back(s.toStdString());
    auto result = std::make_shared<ComparisonResult>(m_session->compare(
        request, list, [this](int done, int total) { emit progress(done, total); }, [this] { return m_cancel.load(); }));
    emit compared(result);
  } catch (const CancelledError&) {
    emit cancelled();
  } catch (const std::exception& e) {
    emit failed(tr("Cannot compare"), QString::fromStdString(e.what()));
  }
}

void RunWorker::aggregate(const QString& stack, int layer, const QString& kind) {
  try {
    if (!m_session) throw InputError("no model is open");
    int rows = 0, cols = 0;
    auto v = m_session->aggregate(stack.toStdString(), layer, kind.toStdString(), &rows, &cols);
    emit aggregated(kind, layer, v, rows, cols);
  } catch (const std::exception& e) {
    emit overlayFailed(QString::fromStdString(e.what()));
  }
}

void RunWorker::headMetric(const QString& stack, const QString& metric) {
  try {
    if (!m_session) throw InputError("no model is open");
    int layers = 0, heads = 0;
    auto v = m_session->headMetric(stack.toStdString(), metric.toStdString(), &layers, &heads);
    emit headMetricReady(metric, v, layers, heads);
  } catch (const std::exception& e) {
    emit overlayFailed(QString::fromStdString(e.what()));
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
