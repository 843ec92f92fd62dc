#pragma once
#include <QImage>
#include <QObject>
#include <QStringList>
#include <QThread>
#include <QThreadPool>
#include <atomic>
#include <memory>

#include "RunWorker.h"

namespace attnscope {

/// The engine's thread and the one way to it: loads, runs, comparisons, generation and sessions go through an
/// explicit state (one at a time); view computations (aggregates, head metrics, overlays, previews) run between
/// them and answer with the id their request returned, so a view takes only the answer to its latest request.
class RunController : public QObject {
  Q_OBJECT
 public:
  enum class State { Idle, Loading, Running, Comparing, Generating, Sweeping, OpeningSession };
  Q_ENUM(State)

  /// \p threaded false runs the worker on the caller's thread (tests of single views: no thread, direct answers).
  explicit RunController(QObject* parent = nullptr, bool threaded = true);
  ~RunController() override;

  State state() const { return m_state; }
  bool busy() const { return m_state != State::Idle; }
  bool threadRunning() const { return m_thread.isRunning(); }

  /// Each returns false (and does nothing) while another job runs.
  bool load(const QString& dir, const QString& device, const QString& dtype);
  bool run(const RunRequest& request);
  bool compare(const RunRequest& request, const QStringList& specs);
  bool generate(const RunRequest& request, int count);
  bool pruneSweep(const RunRequest& request, const PruneSweepOptions& options);
  bool openSession(const QString& path, const QString& device, const QString& dtype);
  /// Saving works in any state (the worker queues it).
  void saveSession(const QString& path, const QString& stateJson, std::shared_ptr<const CaptureResult> capture,
                   std::shared_ptr<const ComparisonResult> comparison);
  void saveCapture(const QString& path);

  /// Aggregate of \p layer (answers aggregated()); a long input's on-demand capture gives query row \p query only.
  quint64 aggregate(std::shared_ptr<const CaptureResult> capture, const QString& stack, int layer,
                    const QString& kind, int query = 0);
  quint64 headMetric(std::shared_ptr<const CaptureResult> capture, const QString& stack, const QString& metric);
  /// Block maxima of a window of a long input's head, computed from its queries and keys (answers tileReady()) on a
  /// thread of its own, so the layers of a run still in progress are drawn while the engine's thread computes the
  /// next ones.
  quint64 headTile(std::shared_ptr<const CaptureResult> capture, const HeadTile& tile);
  /// Thumbnails of a long input's heads from 48 evenly spaced query rows (answers thumbnailsReady()).
  quint64 thumbnails(std::shared_ptr<const CaptureResult> capture, const QString& stack);
  /// The logit lens of the last run's input (answers lensReady()).
  quint64 lens(const QString& target);
  /// Direct logit attribution of the last run's input (answers dlaReady()).
  quint64 directLogitAttribution(qint64 position, const QString& target);
  /// The information-flow graph of the last run's input (answers flowGraphReady()).
  quint64 flowGraph(qint64 position, double threshold);
  /// Deletion curves of the last run's input (answers deletionReady()).
  quint64 deletion(const QStringList& methods, const QString& target, int steps);
  /// A token attribution of the last run's input (answers attributionReady()).
  quint64 attribution(const QString& method, qint64 position, const QString& target, double alpha,
                      const QString& colormap);
  quint64 overlay(const QString& stack, int layer, int head, int query, bool rollout, double alpha,
                  const QString& colormap);
  quint64 preview(const QString& path, double offsetSeconds, double seconds, int width, int height);

  /// Asks the running job to stop at its next layer.
  void cancel();
  /// Stops the thread (also done by the destructor).
  void shutdown();

 signals:
  void stateChanged(attnscope::RunController::State state);
  void progress(int done, int total);
  void loaded(const attnscope::ModelSummary& summary, bool acceptsPair);
  void finished(std::shared_ptr<const attnscope::CaptureResult> result);
  /// While a run goes on: the layers it has recorded so far (the first at once, then at most once a second).
  void partial(std::shared_ptr<const attnscope::CaptureResult> result);
  void generated(std::shared_ptr<const attnscope::CaptureResult> result, int promptLength);
  void compared(std::shared_ptr<const attnscope::ComparisonResult> result);
  void swept(std::shared_ptr<const attnscope::PruneSweepResult> result);
  void cancelled();
  /// \p during: the job that failed (Loading for a model that could not be opened).
  void failed(attnscope::RunController::State during, const QString& title, const QString& message);
  void sessionRead(const QString& path, const QString& stateJson, std::shared_ptr<const attnscope::CaptureResult> capture,
                   std::shared_ptr<const attnscope::ComparisonResult> comparison, bool modelFound);
  void sessionSaved(const QString& path);
  void captureSaved(const QString& path);
  void aggregated(quint64 id, const std::vector<float>& values, int rows, int cols);
  void tileReady(quint64 id, const attnscope::HeadTile& tile);
  void thumbnailsReady(quint64 id, std::shared_ptr<const attnscope::CaptureResult> thumbnails);
  void lensReady(quint64 id, std::shared_ptr<const attnscope::LensResult> lens);
  void dlaReady(quint64 id, std::shared_ptr<const attnscope::DirectLogitAttribution> dla);
  void flowGraphReady(quint64 id, std::shared_ptr<const attnscope::InformationFlowGraph> graph);
  void deletionReady(quint64 id, std::shared_ptr<const attnscope::DeletionResult> result);
  void attributionReady(quint64 id, std::shared_ptr<const attnscope::TokenAttribution> result, const QImage& overlay);
  void headMetricReady(quint64 id, const std::vector<float>& values, int layers, int heads);
  void overlayReady(quint64 id, const QImage& image, const QString& title);
  void previewReady(quint64 id, const QImage& image, double fileSeconds);
  void viewFailed(quint64 id, const QString& message);

 private:
  bool begin(State state);
  void setState(State state);
  template <class F>
  void post(F&& f);

  QThread m_thread;
  RunWorker* m_worker;
  bool m_threaded = true;
  std::atomic<quint64> m_latestTile{0};
  QThreadPool m_tiles;  ///< one thread: tiles of on-demand heads (declared last: stopped first)
  State m_state = State::Idle;
  quint64 m_nextId = 1;
};

}  // namespace attnscope
