#pragma once
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QSlider>
#include <QStackedWidget>
#include <QTabWidget>
#include <QLabel>
#include <QLineEdit>
#include <QImage>
#include <QMainWindow>
#include <QMenu>
#include <QJsonObject>
#include <QTimer>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>
#include <memory>

#include "CompareView.h"
#include "HeatmapView.h"
#include "OverviewView.h"
#include "TokenLineView.h"
#include "RunWorker.h"

namespace attnscope {

/// The first window: open a model folder, type text, Run on a worker thread with
/// progress and Cancel, pick layer and head, see the heatmap.
class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  /// Starts loading \p dir on the worker thread.
  void openModel(const QString& dir);
  void setInputText(const QString& text);
  /// Image or audio file for image/audio models.
  void setInputFile(const QString& path);
  /// Attention variant spec for the next run ("full" = the model's own attention).
  void setVariant(const QString& spec);
  /// Runs the current text (once a model is loaded).
  void runNow();
  void cancelRun();
  /// Sets the compute dtype ("auto", "float32", "bfloat16", "float16"; File ▸ Compute dtype, remembered) and
  /// reopens the current model in it.
  void setComputeDtype(const QString& dtype);
  QString computeDtype() const { return m_dtype; }

  bool isBusy() const { return m_busy; }
  bool isThreadRunning() const { return m_thread.isRunning(); }
  HeatmapView* heatmap() const { return m_heatmap; }
  QSpinBox* layerBox() const { return m_layer; }
  QSpinBox* headBox() const { return m_head; }
  std::shared_ptr<const CaptureResult> capture() const { return m_capture; }
  const ModelSummary& summary() const { return m_summary; }
  QLabel* overlayView() const { return m_overlay; }
  /// The input panel's picture: image thumbnail or audio waveform + spectrogram.
  QLabel* inputPreview() const { return m_thumb; }
  QTabWidget* tabs() const { return m_tabs; }
  QWidget* overlayPage() const { return m_overlayPage; }
  QComboBox* stackBox() const { return m_stack; }
  CompareView* compareView() const { return m_compareView; }
  OverviewView* overview() const { return m_overview; }
  TokenLineView* tokenLines() const { return m_lines; }
  HeatmapView* aggregateView() const { return m_aggregate; }
  QComboBox* aggregateKind() const { return m_aggKind; }
  HeatmapView* metricsView() const { return m_metrics; }
  /// The input overlay at full size (null before an image or audio model ran).
  const QImage& overlayImage() const { return m_overlayImage; }
  QComboBox* metricKind() const { return m_metricKind; }
  QWidget* metricsPage() const { return m_metricsPage; }
  QWidget* aggregatePage() const { return m_aggPage; }
  QWidget* overviewPage() const { return m_overviewPage; }
  QWidget* linesPage() const { return m_linesPage; }
  /// Runs the comparison of the current input under \p specs (the Compare tab's button does this).
  void compareNow(const QStringList& specs);
  /// Writes the current view (head view, or the compare panels on the Compare tab) as PNG/SVG/PDF by the
  /// file's suffix; returns false (after a dialog) on failure.
  bool exportFigure(const QString& path, int dpi = 300);
  /// Writes the current head (head view) as NumPy .npy or CSV by the file's suffix, atomically; false after a dialog.
  bool exportHeadData(const QString& path);
  /// Writes the comparison report as JSON (report.json schema) or CSV (one row per variant × layer × head).
  bool exportComparisonMetrics(const QString& path);
  /// Starts exporting every head of the current layer (or of every layer) of the current stack as one figure per
  /// head into \p dir ("<stack>-L<layer>-H<head>.<format>"), one figure per event-loop turn so the window stays
  /// responsive; batchExportDone() reports the count. Returns the number of figures queued, or -1 (after a dialog)
  /// when there is nothing to export or files would be replaced and \p overwrite is false.
  int exportAllHeads(const QString& dir, const QString& format, bool wholeModel, int dpi = 300,
                     bool overwrite = false);
  /// Saves the session (model folder, inputs, variant, compare specs, view state and the captures on screen) to
  /// \p path through QSaveFile on the worker thread; sessionSaved() when done.
  void saveSession(const QString& path);
  /// Opens a session: restores its captures and view state at once and reloads its model folder when it exists.
  void openSession(const QString& path);
  /// The state a session file stores (JSON object).
  QJsonObject sessionState() const;
  /// Greedy generation of \p count tokens after the current text (causal LMs, Whisper); every step's attention can
  /// then be browsed with the step box.
  void generateNow(int count);
  QComboBox* scaleBox() const { return m_scaleKind; }
  QDoubleSpinBox* gammaBox() const { return m_gamma; }
  QCheckBox* autoRangeBox() const { return m_autoRange; }
  QDoubleSpinBox* rangeLoBox() const { return m_rangeLo; }
  QDoubleSpinBox* rangeHiBox() const { return m_rangeHi; }
  QComboBox* linesHeadsBox() const { return m_linesHeads; }
  QComboBox* overviewFrameBox() const { return m_frameKind; }
  QCustomPlot* metricBars() const { return m_bars; }
  QSpinBox* stepBox() const { return m_step; }
  QPushButton* generateButton() const { return m_generate; }
  int promptLength() const { return m_promptLength; }
  /// Shuts the worker thread down (also done by the destructor).
  void shutdown();

 signals:
  void requestLoad(const QString& dir, const QString& device, const QString& dtype);
  void requestRun(const attnscope::RunRequest& request);
  void requestCompare(const attnscope::RunRequest& request, const QStringList& specs);
  void requestAggregate(std::shared_ptr<const attnscope::CaptureResult> capture, const QString& stack, int layer,
                        const QString& kind);
  void requestHeadMetric(std::shared_ptr<const attnscope::CaptureResult> capture, const QString& stack,
                         const QString& metric, const QString& purpose);
  void requestGenerate(const attnscope::RunRequest& request, int count);
  void requestSaveSession(const QString& path, const QString& stateJson,
                          std::shared_ptr<const attnscope::CaptureResult> capture,
                          std::shared_ptr<const attnscope::ComparisonResult> comparison);
  void requestOpenSession(const QString& path, const QString& device, const QString& dtype);
  void requestPreview(const QString& path, double offsetSeconds, double seconds, int width, int height);
  /// The audio input's waveform/spectrogram preview was drawn.
  void previewShown();
  void sessionSaved(const QString& path);
  /// A session's captures and view state are restored (and its model loaded, when it was found).
  void sessionOpened();
  void batchExportDone(int files, bool cancelled);
  /// The overview's frames were coloured by a metric.
  void overviewFramed();
  void metricsShown();
  /// Emitted when the aggregates tab shows a new matrix.
  void aggregateShown();
  void requestOverlay(const QString& stack, int layer, int head, int query, bool rollout, double alpha,
                      const QString& colormap);
  /// Emitted when a new overlay picture is shown.
  void overlayShown();
  void requestSave(const QString& path);
  /// Emitted after a model is loaded, after a run finishes, is cancelled or fails.
  void idle();

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildUi();
  void setBusy(bool busy, const QString& message = {});
  void showHead();
  void onLoaded(const ModelSummary& summary, bool acceptsPair);
  void onFinished(std::shared_ptr<const CaptureResult> result);
  void onFailed(const QString& title, const QString& message);
  void chooseModel();
  void chooseCachedModel();
  void chooseInputFile();
  void updateOverlay();
  void updatePreview();
  void updateAggregate();
  void updateMetrics();
  bool currentRequest(RunRequest& r);
  /// Index of the selected stack in the current capture (0 when none is chosen or it is out of range).
  int currentStack() const;
  void saveCapture();
  void chooseExport();
  void chooseBatchExport();
  void chooseHeadData();
  void chooseMetricsExport();
  void chooseSaveSession();
  void chooseOpenSession();
  /// Shows \p result as the current capture (run, generation or a restored session).
  void adoptCapture(std::shared_ptr<const CaptureResult> result);
  void applySessionState(const QJsonObject& state);
  void applyScale();
  void updateOverviewFrame();
  void updateBars();
  void updateLines();
  void showStep();
  void batchStep();
  void addRecent(const QString& dir);
  void fillRecentMenu();
  bool writeBytes(const QString& path, const QByteArray& bytes);

  QThread m_thread;
  RunWorker* m_worker;
  HeatmapView* m_heatmap = nullptr;
  QLabel* m_card = nullptr;
  QLabel* m_prediction = nullptr;
  QLineEdit* m_text = nullptr;
  QLineEdit* m_pair = nullptr;
  QPushButton* m_run = nullptr;
  QPushButton* m_cancel = nullptr;
  QSpinBox* m_layer = nullptr;
  QSpinBox* m_head = nullptr;
  QComboBox* m_colormap = nullptr;
  QComboBox* m_variant = nullptr;
  QComboBox* m_stack = nullptr;
  QStackedWidget* m_inputs = nullptr;
  QLineEdit* m_file = nullptr;
  QPushButton* m_browse = nullptr;
  QDoubleSpinBox* m_offset = nullptr;
  QLabel* m_thumb = nullptr;
  QTabWidget* m_tabs = nullptr;
  QLabel* m_overlay = nullptr;
  QImage m_overlayImage;  ///< the overlay at full size (the label shows it fitted to the window)
  CompareView* m_compareView = nullptr;
  OverviewView* m_overview = nullptr;
  TokenLineView* m_lines = nullptr;
  HeatmapView* m_aggregate = nullptr;
  QComboBox* m_aggKind = nullptr;
  QWidget* m_aggPage = nullptr;
  HeatmapView* m_metrics = nullptr;
  QComboBox* m_metricKind = nullptr;
  QWidget* m_metricsPage = nullptr;
  QLabel* m_metricsNote = nullptr;
  QWidget* m_overlayPage = nullptr;
  std::string m_overviewStack;
  const CaptureResult* m_overviewCapture = nullptr;
  QSpinBox* m_query = nullptr;
  QCheckBox* m_rollout = nullptr;
  QSlider* m_opacity = nullptr;
  QProgressBar* m_progress = nullptr;
  QComboBox* m_scaleKind = nullptr;
  QDoubleSpinBox* m_gamma = nullptr;
  QCheckBox* m_autoRange = nullptr;
  QDoubleSpinBox* m_rangeLo = nullptr;
  QDoubleSpinBox* m_rangeHi = nullptr;
  QComboBox* m_linesHeads = nullptr;
  QComboBox* m_frameKind = nullptr;
  QCustomPlot* m_bars = nullptr;
  std::vector<float> m_metricGrid;
  int m_metricLayers = 0, m_metricHeads = 0;
  QSpinBox* m_genCount = nullptr;
  QPushButton* m_generate = nullptr;
  QSpinBox* m_step = nullptr;
  int m_promptLength = -1;  ///< prompt positions of a generation on screen; -1 = not a generation
  QMenu* m_recent = nullptr;
  QWidget* m_linesPage = nullptr;
  QWidget* m_overviewPage = nullptr;
  QLabel* m_cardLabelNote = nullptr;
  bool m_sessionPending = false;
  bool m_sessionRerun = false;  ///< the run in flight re-primes the engine after a session open
  QJsonObject m_pendingView;
  struct BatchJob {
    std::string stack;
    int layer, head;
    QString path;
  };
  std::vector<BatchJob> m_batch;
  size_t m_batchDone = 0;
  bool m_batchCancel = false;
  QString m_batchFormat;
  int m_batchDpi = 300;
  std::vector<CaptureResult> m_batchCapture;
  QTimer m_batchTimer;
  QString m_device = "auto";
  QString m_dtype = "auto";
  bool m_opening = false;  ///< a model is being opened (the current one stays until it has loaded)  ///< compute dtype of the next load (File ▸ Compute dtype)
  ModelSummary m_summary;
  std::shared_ptr<const CaptureResult> m_capture;
  bool m_busy = false;
  bool m_loaded = false;
  bool m_runAfterLoad = false;
};

}  // namespace attnscope
