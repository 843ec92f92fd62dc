#include "RunController.h"

namespace attnscope {

RunController::RunController(QObject* parent, bool threaded)
    : QObject(parent), m_worker(new RunWorker), m_threaded(threaded) {
  qRegisterMetaType<attnscope::RunController::State>();
  m_tiles.setMaxThreadCount(1);
  if (threaded) {
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
  } else {
    m_worker->setParent(this);
  }
  connect(m_worker, &RunWorker::progress, this, &RunController::progress);
  connect(m_worker, &RunWorker::loaded, this, [this](const ModelSummary& s, bool pair) {
    setState(State::Idle);
    emit loaded(s, pair);
  });
  connect(m_worker, &RunWorker::finished, this, [this](std::shared_ptr<const CaptureResult> r) {
    setState(State::Idle);
    emit finished(std::move(r));
  });
  connect(m_worker, &RunWorker::partial, this, [this](std::shared_ptr<const CaptureResult> r) {
    if (m_state == State::Running) emit partial(std::move(r));
  });
  connect(m_worker, &RunWorker::generated, this, [this](std::shared_ptr<const CaptureResult> r, int prompt) {
    setState(State::Idle);
    emit generated(std::move(r), prompt);
  });
  connect(m_worker, &RunWorker::compared, this, [this](std::shared_ptr<const ComparisonResult> r) {
    setState(State::Idle);
    emit compared(std::move(r));
  });
  connect(m_worker, &RunWorker::swept, this, [this](std::shared_ptr<const PruneSweepResult> r) {
    setState(State::Idle);
    emit swept(std::move(r));
  });
  connect(m_worker, &RunWorker::cancelled, this, [this] {
    setState(State::Idle);
    emit cancelled();
  });
  connect(m_worker, &RunWorker::failed, this, [this](const QString& title, const QString& message) {
    const State during = m_state;
    setState(State::Idle);
    emit failed(during, title, message);
  });
  connect(m_worker, &RunWorker::sessionRead, this,
          [this](const QString& path, const QString& json, std::shared_ptr<const CaptureResult> capture,
                 std::shared_ptr<const ComparisonResult> comparison, bool found) {
            setState(found ? State::Loading : State::Idle);  // the worker loads the session's model next
            emit sessionRead(path, json, std::move(capture), std::move(comparison), found);
          });
  connect(m_worker, &RunWorker::sessionSaved, this, &RunController::sessionSaved);
  connect(m_worker, &RunWorker::saved, this, &RunController::captureSaved);
  connect(m_worker, &RunWorker::aggregated, this, &RunController::aggregated);
  connect(m_worker, &RunWorker::tileReady, this, &RunController::tileReady);
  connect(m_worker, &RunWorker::thumbnailsReady, this, &RunController::thumbnailsReady);
  connect(m_worker, &RunWorker::lensReady, this, &RunController::lensReady);
  connect(m_worker, &RunWorker::dlaReady, this, &RunController::dlaReady);
  connect(m_worker, &RunWorker::flowGraphReady, this, &RunController::flowGraphReady);
  connect(m_worker, &RunWorker::deletionReady, this, &RunController::deletionReady);
  connect(m_worker, &RunWorker::attributionReady, this, &RunController::attributionReady);
  connect(m_worker, &RunWorker::headMetricReady, this, &RunController::headMetricReady);
  connect(m_worker, &RunWorker::overlayReady, this, &RunController::overlayReady);
  connect(m_worker, &RunWorker::previewReady, this, &RunController::previewReady);
  connect(m_worker, &RunWorker::viewFailed, this, &RunController::viewFailed);
  if (threaded) m_thread.start();
}

RunController::~RunController() { shutdown(); }

void RunController::shutdown() {
  m_tiles.clear();
  m_tiles.waitForDone();
  if (!m_thread.isRunning()) return;
  m_worker->requestCancel();
  m_thread.quit();
  m_thread.wait();
}

template <class F>
void RunController::post(F&& f) {
  // Queued onto the worker's thread (or the next event-loop turn when the worker lives on this thread), so a
  // request's id is always known to its caller before the answer arrives.
  QMetaObject::invokeMethod(m_worker, std::forward<F>(f), Qt::QueuedConnection);
}

void RunController::setState(State state) {
  if (state == m_state) return;
  m_state = state;
  emit stateChanged(state);
}

bool RunController::begin(State state) {
  if (busy()) return false;
  setState(state);
  return true;
}

bool RunController::load(const QString& dir, const QString& device, const QString& dtype) {
  if (!begin(State::Loading)) return false;
  post([w = m_worker, dir, device, dtype] { w->load(dir, device, dtype); });
  return true;
}

bool RunController::run(const RunRequest& request) {
  if (!begin(State::Running)) return false;
  post([w = m_worker, request] { w->runRequest(request); });
  return true;
}

bool RunController::compare(const RunRequest& request, const QStringList& specs) {
  if (!begin(State::Comparing)) return false;
  post([w = m_worker, request, specs] { w->compare(request, specs); });
  return true;
}

bool RunController::generate(const RunRequest& request, int count) {
  if (!begin(State::Generating)) return false;
  post([w = m_worker, request, count] { w->generate(request, count); });
  return true;
}

bool RunController::pruneSweep(const RunRequest& request, const PruneSweepOptions& options) {
  if (!begin(State::Sweeping)) return false;
  post([w = m_worker, request, options] { w->pruneSweep(request, options); });
  return true;
}

bool RunController::openSession(const QString& path, const QString& device, const QString& dtype) {
  if (!begin(State::OpeningSession)) return false;
  post([w = m_worker, path, device, dtype] { w->openSession(path, device, dtype); });
  return true;
}

void RunController::saveSession(const QString& path, const QString& stateJson,
                                std::shared_ptr<const CaptureResult> capture,
                                std::shared_ptr<const ComparisonResult> comparison) {
  post([w = m_worker, path, stateJson, capture, comparison] { w->saveSession(path, stateJson, capture, comparison); });
}

void RunController::saveCapture(const QString& path) {
  post([w = m_worker, path] { w->save(path); });
}

quint64 RunController::aggregate(std::shared_ptr<const CaptureResult> capture, const QString& stack, int layer,
                                 const QString& kind, int query) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, capture, stack, layer, kind, query] { w->aggregate(id, capture, stack, layer, kind, query); });
  return id;
}

quint64 RunController::headTile(std::shared_ptr<const CaptureResult> capture, const HeadTile& tile) {
  const quint64 id = m_nextId++;
  if (!m_threaded) {
    post([w = m_worker, id, capture, tile] { w->headTile(id, capture, tile); });
    return id;
  }
  m_latestTile = id;
  m_tiles.start([this, id, capture, tile] {
    if (id != m_latestTile.load()) return;  // a newer window was asked for: only the latest is drawn
    try {
      const HeadTile done = RunWorker::computeTile(capture, tile);
      QMetaObject::invokeMethod(this, [this, id, done] { emit tileReady(id, done); }, Qt::QueuedConnection);
    } catch (const std::exception& e) {
      const QString message = QString::fromStdString(e.what());
      QMetaObject::invokeMethod(this, [this, id, message] { emit viewFailed(id, message); }, Qt::QueuedConnection);
    }
  });
  return id;
}

quint64 RunController::lens(const QString& target) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, target] { w->lens(id, target); });
  return id;
}

quint64 RunController::directLogitAttribution(qint64 position, const QString& target) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, position, target] { w->directLogitAttribution(id, position, target); });
  return id;
}

quint64 RunController::flowGraph(qint64 position, double threshold) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, position, threshold] { w->flowGraph(id, position, threshold); });
  return id;
}

quint64 RunController::deletion(const QStringList& methods, const QString& target, int steps) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, methods, target, steps] { w->deletion(id, methods, target, steps); });
  return id;
}

quint64 RunController::attribution(const QString& method, qint64 position, const QString& target, double alpha,
                                   const QString& colormap) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, method, position, target, alpha, colormap] {
    w->attribution(id, method, position, target, alpha, colormap);
  });
  return id;
}

quint64 RunController::thumbnails(std::shared_ptr<const CaptureResult> capture, const QString& stack) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, capture, stack] { w->thumbnails(id, capture, stack); });
  return id;
}

quint64 RunController::headMetric(std::shared_ptr<const CaptureResult> capture, const QString& stack,
                                  const QString& metric) {
  const quint64 id = m_nextId++;
  post([w = m_worker, id, capture, stack, metric] { w->headMetric(id, capture, stack, metric); });
  return id;
}

quint64 RunController::overlay(const QString& stack, int layer, int head, int query, bool rollout, double alpha,
                               const QString& colormap) {
  const quint64 id = m_nextId++;
  post([=, w = m_worker] { w->overlay(id, stack, layer, head, query, rollout, alpha, colormap); });
  return id;
}

quint64 RunController::preview(const QString& path, double offsetSeconds, double seconds, int width, int height) {
  const quint64 id = m_nextId++;
  post([=, w = m_worker] { w->preview(id, path, offsetSeconds, seconds, width, height); });
  return id;
}

void RunController::cancel() {
  if (busy()) m_worker->requestCancel();
}

}  // namespace attnscope
