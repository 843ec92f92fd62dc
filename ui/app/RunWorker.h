#pragma once
#include <QImage>
#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "attnscope/EngineSession.h"

namespace attnscope {
/// A window of a long input's head (HeatmapView::tileWanted()) and, once computed, its block maxima.
struct HeadTile {
  QString stack;
  int layer = 0, head = 0;              ///< head slot
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;  ///< keys x0..x1, queries y0..y1 (inclusive)
  int bx = 1, by = 1;                   ///< cells per block
  std::vector<float> maxima;            ///< [ceil((y1-y0+1)/by) × ceil((x1-x0+1)/bx)]
};
}  // namespace attnscope

Q_DECLARE_METATYPE(attnscope::HeadTile)
Q_DECLARE_METATYPE(attnscope::ModelSummary)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::CaptureResult>)
Q_DECLARE_METATYPE(attnscope::RunRequest)
Q_DECLARE_METATYPE(std::vector<float>)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::ComparisonResult>)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::PruneSweepResult>)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::LensResult>)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::DirectLogitAttribution>)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::InformationFlowGraph>)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::DeletionResult>)
Q_DECLARE_METATYPE(std::shared_ptr<const attnscope::TokenAttribution>)

namespace attnscope {

/// Owns the EngineSession and does all engine work on its own thread
/// (loading, running, saving). The GUI talks to it only through queued signals.
class RunWorker : public QObject {
  Q_OBJECT
 public:
  RunWorker();
  ~RunWorker() override;
  /// Thread-safe: asks the current run to stop at the next layer.
  void requestCancel() { m_cancel = true; }

 public slots:
  void load(const QString& dir, const QString& device, const QString& dtype);
  void runRequest(const attnscope::RunRequest& request);
  void compare(const attnscope::RunRequest& request, const QStringList& specs);
  /// The pruning sweep of the request's input; emits swept().
  void pruneSweep(const attnscope::RunRequest& request, const attnscope::PruneSweepOptions& options);
  /// Greedy generation of \p maxNewTokens after the request's text; emits generated().
  void generate(const attnscope::RunRequest& request, int maxNewTokens);
  /// Mean/max over heads or rollout of \p capture (the one on screen); emits aggregated(). For a long input's
  /// on-demand capture only query row \p query (a 1 × k matrix).
  void aggregate(quint64 id, std::shared_ptr<const attnscope::CaptureResult> capture, const QString& stack,
                 int layer, const QString& kind, int query);
  /// The block maxima of \p tile's window of \p capture's on-demand head; emits tileReady().
  void headTile(quint64 id, std::shared_ptr<const attnscope::CaptureResult> capture, attnscope::HeadTile tile);
  /// The block maxima of \p tile's window (read-only on \p capture: callable from any thread; throws).
  static attnscope::HeadTile computeTile(const std::shared_ptr<const attnscope::CaptureResult>& capture,
                                         attnscope::HeadTile tile);
  /// The logit lens of the last run's input with \p target ("" = each position's own prediction); emits lensReady().
  void lens(quint64 id, const QString& target);
  /// Direct logit attribution of the last run's input at \p position for \p target; emits dlaReady().
  void directLogitAttribution(quint64 id, qint64 position, const QString& target);
  /// The information-flow graph of the last run's input into \p position; emits flowGraphReady().
  void flowGraph(quint64 id, qint64 position, double threshold);
  /// Deletion curves of the last run's input; emits deletionReady().
  void deletion(quint64 id, const QStringList& methods, const QString& target, int steps);
  /// A token attribution of the last run's input (position −1 = the method's default); emits attributionReady(),
  /// with the scores drawn over the picture or spectrogram for image and audio models (else a null image).
  void attribution(quint64 id, const QString& method, qint64 position, const QString& target, double alpha,
                   const QString& colormap);
  /// Thumbnails of a long input's heads from evenly spaced query rows; emits thumbnailsReady().
  void thumbnails(quint64 id, std::shared_ptr<const attnscope::CaptureResult> capture, const QString& stack);
  /// A [layers × heads] head metric of \p capture ("importance" runs the model's autograd); emits headMetricReady()
  /// with the request's id.
  void headMetric(quint64 id, std::shared_ptr<const attnscope::CaptureResult> capture, const QString& stack,
                  const QString& metric);
  /// Writes a session file atomically (QSaveFile); emits sessionSaved() or failed().
  void saveSession(const QString& path, const QString& stateJson,
                   std::shared_ptr<const attnscope::CaptureResult> capture,
                   std::shared_ptr<const attnscope::ComparisonResult> comparison);
  /// Reads a session file, then loads its model folder (when it still exists); emits sessionRead() then loaded().
  void openSession(const QString& path, const QString& device, const QString& dtype);
  /// Draws the last run's attention over its image / spectrogram (image and audio models).
  void overlay(quint64 id, const QString& stack, int layer, int head, int query, bool rollout, double alpha,
               const QString& colormap);
  void save(const QString& path);
  /// Waveform + spectrogram preview of an audio file (emits previewReady or viewFailed).
  void preview(quint64 id, const QString& path, double offsetSeconds, double seconds, int width, int height);

 signals:
  void loaded(const attnscope::ModelSummary& summary, bool acceptsPair);
  void progress(int done, int total);
  void finished(std::shared_ptr<const attnscope::CaptureResult> result);
  /// The layers a running forward has recorded so far (CaptureResult::partial).
  void partial(std::shared_ptr<const attnscope::CaptureResult> result);
  void cancelled();
  void saved(const QString& path);
  void failed(const QString& title, const QString& message);
  void overlayReady(quint64 id, const QImage& image, const QString& title);
  void compared(std::shared_ptr<const attnscope::ComparisonResult> result);
  void swept(std::shared_ptr<const attnscope::PruneSweepResult> result);
  void headMetricReady(quint64 id, const std::vector<float>& values, int layers, int heads);
  void generated(std::shared_ptr<const attnscope::CaptureResult> result, int promptLength);
  void sessionSaved(const QString& path);
  void sessionRead(const QString& path, const QString& stateJson,
                   std::shared_ptr<const attnscope::CaptureResult> capture,
                   std::shared_ptr<const attnscope::ComparisonResult> comparison, bool modelFound);
  /// A view's computation failed (shown in that view, not as a dialog).
  void viewFailed(quint64 id, const QString& message);
  void aggregated(quint64 id, const std::vector<float>& values, int rows, int cols);
  void tileReady(quint64 id, const attnscope::HeadTile& tile);
  void thumbnailsReady(quint64 id, std::shared_ptr<const attnscope::CaptureResult> thumbnails);
  void lensReady(quint64 id, std::shared_ptr<const attnscope::LensResult> lens);
  void dlaReady(quint64 id, std::shared_ptr<const attnscope::DirectLogitAttribution> dla);
  void flowGraphReady(quint64 id, std::shared_ptr<const attnscope::InformationFlowGraph> graph);
  void deletionReady(quint64 id, std::shared_ptr<const attnscope::DeletionResult> result);
  void attributionReady(quint64 id, std::shared_ptr<const attnscope::TokenAttribution> result, const QImage& overlay);
  void previewReady(quint64 id, const QImage& image, double fileSeconds);

 private:
  /// Runs \p job(progress, cancelled) on the open model: "no model", cancellation and errors answered alike.
  template <class Job>
  void engineJob(const QString& failTitle, Job&& job);
  std::unique_ptr<EngineSession> m_session;
  std::atomic<bool> m_cancel{false};
};

}  // namespace attnscope
