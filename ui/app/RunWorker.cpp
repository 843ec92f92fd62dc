#include "RunWorker.h"

#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>

#include "AtomicWrite.h"
#include "attnscope/Errors.h"
#include "attnscope/SessionFile.h"

namespace attnscope {

RunWorker::RunWorker() {
  qRegisterMetaType<attnscope::ModelSummary>();
  qRegisterMetaType<std::shared_ptr<const attnscope::CaptureResult>>();
  qRegisterMetaType<attnscope::RunRequest>();
  qRegisterMetaType<std::vector<float>>();
  qRegisterMetaType<attnscope::HeadTile>();
  qRegisterMetaType<std::shared_ptr<const attnscope::LensResult>>();
  qRegisterMetaType<std::shared_ptr<const attnscope::DirectLogitAttribution>>();
  qRegisterMetaType<std::shared_ptr<const attnscope::InformationFlowGraph>>();
  qRegisterMetaType<std::shared_ptr<const attnscope::DeletionResult>>();
  qRegisterMetaType<std::shared_ptr<const attnscope::TokenAttribution>>();
  qRegisterMetaType<std::shared_ptr<const attnscope::ComparisonResult>>();
  qRegisterMetaType<std::shared_ptr<const attnscope::PruneSweepResult>>();
}

RunWorker::~RunWorker() = default;

void RunWorker::load(const QString& dir, const QString& device, const QString& dtype) {
  try {
    auto session = EngineSession::open(dir.toStdString(), device.toStdString(), dtype.toStdString());
    m_session = std::move(session);
    emit loaded(m_session->summary(), m_session->acceptsTextPair());
  } catch (const std::exception& e) {
    emit failed(tr("Cannot open model"), QString::fromStdString(e.what()));
  }
}

void RunWorker::overlay(quint64 id, const QString& stack, int layer, int head, int query, bool rollout, double alpha,
                        const QString& colormap) {
  try {
    if (!m_session) throw InputError("no model is open");
    EngineSession::Picture p = m_session->overlay(stack.toStdString(), layer, head, query, rollout, alpha,
                                                  colormap.toStdString());
    QImage img(p.rgb.data(), p.width, p.height, p.width * 3, QImage::Format_RGB888);
    emit overlayReady(id, img.copy(), QString::fromStdString(p.title));
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

template <class Job>
void RunWorker::engineJob(const QString& failTitle, Job&& job) {
  m_cancel = false;
  if (!m_session) {
    emit failed(tr("No model"), tr("Open a model folder first (File ▸ Open model…)."));
    return;
  }
  try {
    job([this](int done, int total) { emit progress(done, total); }, [this] { return m_cancel.load(); });
  } catch (const CancelledError&) {
    emit cancelled();
  } catch (const std::exception& e) {
    emit failed(failTitle, QString::fromStdString(e.what()));
  }
}

void RunWorker::runRequest(const RunRequest& request) {
  engineJob(tr("Cannot run the model"), [&](auto progress, auto cancelled) {
    emit finished(std::make_shared<CaptureResult>(m_session->run(
        request, progress, cancelled, [this](std::shared_ptr<const CaptureResult> p) { emit partial(std::move(p)); })));
  });
}

void RunWorker::compare(const RunRequest& request, const QStringList& specs) {
  engineJob(tr("Cannot compare"), [&](auto progress, auto cancelled) {
    std::vector<std::string> list;
    for (const auto& s : specs) list.push_back(s.toStdString());
    emit compared(std::make_shared<ComparisonResult>(m_session->compare(request, list, progress, cancelled)));
  });
}

void RunWorker::pruneSweep(const RunRequest& request, const PruneSweepOptions& options) {
  engineJob(tr("Cannot run the pruning sweep"), [&](auto progress, auto cancelled) {
    emit swept(std::make_shared<PruneSweepResult>(m_session->pruneSweep(request, options, progress, cancelled)));
  });
}

void RunWorker::generate(const RunRequest& request, int maxNewTokens) {
  engineJob(tr("Cannot generate"), [&](auto progress, auto cancelled) {
    int prompt = 0;
    auto result =
        std::make_shared<CaptureResult>(m_session->generate(request, maxNewTokens, &prompt, progress, cancelled));
    emit generated(result, prompt);
  });
}

void RunWorker::aggregate(quint64 id, std::shared_ptr<const CaptureResult> capture, const QString& stack,
                          int layer, const QString& kind, int query) {
  try {
    if (!capture) throw InputError("nothing to aggregate: run the model first");
    if (capture->onDemand()) {  // a long input: one query row, a row vector times each layer's matrix
      auto v = aggregateRow(*capture, stack.toStdString(), layer, kind.toStdString(), query);
      emit aggregated(id, v, 1, static_cast<int>(v.size()));
      return;
    }
    int rows = 0, cols = 0;
    auto v = aggregateAttention(*capture, stack.toStdString(), layer, kind.toStdString(), &rows, &cols);
    emit aggregated(id, v, rows, cols);
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

HeadTile RunWorker::computeTile(const std::shared_ptr<const CaptureResult>& capture, HeadTile tile) {
  if (!capture || !capture->source) throw InputError("this capture holds no on-demand attention");
  int rows = 0, cols = 0;
  tile.maxima = capture->source->blockMaxima(tile.stack.toStdString(), tile.layer, tile.head, tile.y0, tile.y1 + 1,
                                             tile.x0, tile.x1 + 1, tile.by, tile.bx, &rows, &cols);
  return tile;
}

void RunWorker::headTile(quint64 id, std::shared_ptr<const CaptureResult> capture, HeadTile tile) {
  try {
    emit tileReady(id, computeTile(capture, std::move(tile)));
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::lens(quint64 id, const QString& target) {
  try {
    if (!m_session) throw InputError("the logit lens needs the model: open it and run");
    emit lensReady(id, std::make_shared<const LensResult>(m_session->logitLens(target.toStdString(), 10)));
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::directLogitAttribution(quint64 id, qint64 position, const QString& target) {
  try {
    if (!m_session) throw InputError("direct logit attribution needs the model: open it and run");
    emit dlaReady(id, std::make_shared<const DirectLogitAttribution>(
                          m_session->directLogitAttribution(position, target.toStdString())));
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::flowGraph(quint64 id, qint64 position, double threshold) {
  try {
    if (!m_session) throw InputError("the information-flow graph needs the model: open it and run");
    emit flowGraphReady(id, std::make_shared<const InformationFlowGraph>(
                                m_session->informationFlowGraph(position, threshold)));
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::deletion(quint64 id, const QStringList& methods, const QString& target, int steps) {
  try {
    if (!m_session) throw InputError("deletion curves need the model: open it and run");
    std::vector<std::string> names;
    for (const QString& m : methods) names.push_back(m.toStdString());
    emit deletionReady(id, std::make_shared<const DeletionResult>(
                               m_session->deletionCurves(names, target.toStdString(), steps)));
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::attribution(quint64 id, const QString& method, qint64 position, const QString& target, double alpha,
                            const QString& colormap) {
  try {
    if (!m_session) throw InputError("the attribution needs the model: open it and run");
    auto result = std::make_shared<const TokenAttribution>(
        m_session->tokenAttribution(method.toStdString(), position, target.toStdString()));
    QImage overlay;
    if (m_session->summary().modality != "text") {
      EngineSession::Picture p = m_session->attributionOverlay(*result, alpha, colormap.toStdString());
      overlay = QImage(p.rgb.data(), p.width, p.height, p.width * 3, QImage::Format_RGB888).copy();
    }
    emit attributionReady(id, std::move(result), overlay);
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::thumbnails(quint64 id, std::shared_ptr<const CaptureResult> capture, const QString& stack) {
  try {
    if (!capture) throw InputError("run the model first");
    emit thumbnailsReady(id, std::make_shared<const CaptureResult>(sampledThumbnails(*capture, stack.toStdString(), 48, 48)));
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::headMetric(quint64 id, std::shared_ptr<const CaptureResult> capture, const QString& stack,
                           const QString& metric) {
  try {
    int layers = 0, heads = 0;
    std::vector<float> v;
    if (metric == "importance") {
      if (!m_session) throw InputError("importance needs the model: open it and run");
      v = m_session->importance(&layers, &heads);
    } else {
      if (!capture) throw InputError("no run yet: run the model first");
      v = captureHeadMetric(*capture, stack.toStdString(), metric.toStdString(), &layers, &heads);
    }
    emit headMetricReady(id, v, layers, heads);
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
  }
}

void RunWorker::saveSession(const QString& path, const QString& stateJson,
                            std::shared_ptr<const CaptureResult> capture,
                            std::shared_ptr<const ComparisonResult> comparison) {
  try {
    SessionData d;
    d.stateJson = stateJson.toStdString();
    d.capture = capture;
    d.comparison = comparison;
    const std::string bytes = encodeSession(d);
    writeFileAtomically(path, QByteArray::fromStdString(bytes));  // the old file stays intact on failure
    emit sessionSaved(path);
  } catch (const std::exception& e) {
    emit failed(tr("Cannot save the session"), QString::fromStdString(e.what()));
  }
}

void RunWorker::openSession(const QString& path, const QString& device, const QString& dtype) {
  SessionData d;
  try {
    d = readSession(path.toStdString());
  } catch (const std::exception& e) {
    emit failed(tr("Cannot open the session"), QString::fromStdString(e.what()));
    return;
  }
  const QJsonObject state = QJsonDocument::fromJson(QByteArray::fromStdString(d.stateJson)).object();
  const QString dir = state.value("model").toString();
  const bool found = !dir.isEmpty() && QFileInfo(dir + "/config.json").exists();
  emit sessionRead(path, QString::fromStdString(d.stateJson), d.capture, d.comparison, found);
  if (found) load(dir, device, dtype);
}

void RunWorker::preview(quint64 id, const QString& path, double offsetSeconds, double seconds, int width, int height) {
  try {
    const AudioPreview p = audioPreview(path.toStdString(), offsetSeconds, seconds, width, height);
    QImage img(p.rgb.data(), p.width, p.height, p.width * 3, QImage::Format_RGB888);
    emit previewReady(id, img.copy(), p.fileSeconds);
  } catch (const std::exception& e) {
    emit viewFailed(id, QString::fromStdString(e.what()));
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
