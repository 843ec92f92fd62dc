#pragma once
#include <QAction>
#include <QMenu>
#include <QObject>
#include <QTimer>
#include <functional>
#include <vector>

#include "AnalysisDocument.h"
#include "RunController.h"
#include "ViewState.h"

namespace attnscope {

class AnalysisTab;

/// Every export of the window: the current tab as a figure, every head as one figure each (a batch, one figure per
/// event-loop turn), the current head's data, the comparison's metrics, the capture as safetensors. The actions
/// are enabled from the document's state; dialogs start in the last export folder with a name from the model,
/// layer and head.
class ExportController : public QObject {
  Q_OBJECT
 public:
  ExportController(AnalysisDocument* document, ViewState* view, RunController* runner, QWidget* window,
                   std::function<AnalysisTab*()> currentTab);

  /// Adds the export actions to \p menu.
  void addActions(QMenu* menu);
  /// Re-evaluates which actions have something to export (after a tab change).
  void updateActions();

  /// Writes the current tab as a figure (.pdf, .svg, .png at \p dpi); false after a dialog on failure.
  bool exportFigure(const QString& path, int dpi = 300);
  /// Writes the current head as .npy or .csv; false after a dialog.
  bool exportHeadData(const QString& path);
  /// Writes the comparison report as JSON (report.json schema) or CSV (one row per variant × layer × head).
  bool exportComparisonMetrics(const QString& path);
  /// Queues every head of the current layer (or every layer) of the current stack as one figure each into \p dir
  /// ("<stack>-L<layer>-H<head>.<format>"); batchDone() reports. Returns the count queued, or -1 (after a dialog)
  /// when there is nothing to export or files would be replaced and \p overwrite is false.
  int exportAllHeads(const QString& dir, const QString& format, bool wholeModel, int dpi = 300, bool overwrite = false);
  bool batchRunning() const { return m_timer.isActive(); }
  void cancelBatch() { m_batchCancel = true; }

 signals:
  void batchDone(int files, bool cancelled);
  void batchProgress(int done, int total);
  void statusMessage(const QString& text);

 private:
  void chooseFigure();
  void chooseAllHeads();
  void chooseHeadData();
  void chooseMetrics();
  void chooseCapture();
  /// A save-file dialog in the last export folder, proposing \p name; empty when cancelled.
  QString askPath(const QString& title, const QString& name, const QString& filter);
  void batchStep();

  AnalysisDocument* m_doc;
  ViewState* m_view;
  RunController* m_runner;
  QWidget* m_window;
  std::function<AnalysisTab*()> m_currentTab;
  QAction* m_figure = nullptr;
  QAction* m_allHeads = nullptr;
  QAction* m_headData = nullptr;
  QAction* m_metrics = nullptr;
  QAction* m_capture = nullptr;
  struct Job {
    std::string stack;
    int layer, head;
    QString path;
  };
  std::vector<Job> m_batch;
  size_t m_batchDone = 0;
  bool m_batchCancel = false;
  QString m_batchFormat;
  int m_batchDpi = 300;
  std::vector<CaptureResult> m_batchCapture;
  QTimer m_timer;
};

}  // namespace attnscope
