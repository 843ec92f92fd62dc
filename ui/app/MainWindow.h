#pragma once
#include <QDockWidget>
#include <QLabel>
#include <QMainWindow>
#include <QMenu>
#include <QProgressBar>
#include <QTabWidget>

#include "AnalysisDocument.h"
#include "AnalysisTab.h"
#include "ExportController.h"
#include "InputPanel.h"
#include "RunController.h"
#include "SessionController.h"
#include "ViewControls.h"
#include "ViewState.h"

namespace attnscope {

class StepKlTimeline;

/// The window: menus, the model dock, the status bar, drops and the list of tabs. Everything else lives in the
/// parts it assembles: the document (results), the view state, the run controller (the engine's thread), the
/// input panel and view controls, the tabs, the exports and the sessions.
class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  /// Opens \p dir on the engine's thread; the current model and its results stay until it has loaded.
  void openModel(const QString& dir);
  /// Runs the current input (as soon as the model is loaded, when one is loading).
  void runNow();
  void cancelRun();
  /// Compares full attention with \p specs on the current input (the Compare tab's button does this).
  void compareNow(const QStringList& specs);
  /// Greedy generation of \p count tokens after the current text; each step can then be browsed.
  void generateNow(int count);
  /// The pruning sweep on the current input (the Pruning sweep tab's button does this).
  void sweepNow(const PruneSweepOptions& options);
  /// "auto", "float32", "bfloat16", "float16" (File ▸ Compute dtype, remembered); reopens the current model.
  void setComputeDtype(const QString& dtype);
  QString computeDtype() const { return m_dtype; }
  void openSession(const QString& path);
  void saveSession(const QString& path);
  /// Makes the tab with this key ("head", "overview", …) current when the model has it; false otherwise.
  bool showTab(const QString& key);
  /// Stops the engine's thread (also done by the destructor).
  void shutdown();

  bool isBusy() const { return m_runner->busy(); }
  AnalysisDocument* document() const { return m_doc; }
  ViewState* viewState() const { return m_view; }
  RunController* runner() const { return m_runner; }
  InputPanel* input() const { return m_input; }
  ViewControls* controls() const { return m_controls; }
  ExportController* exports() const { return m_exports; }
  SessionController* sessions() const { return m_sessions; }
  QTabWidget* tabs() const { return m_tabs; }
  StepKlTimeline* klTimeline() const { return m_klTimeline; }
  /// The tab of type \p T.
  template <class T>
  T* tab() const {
    for (int i = 0; i < m_tabs->count(); ++i)
      if (auto* t = qobject_cast<T*>(m_tabs->widget(i))) return t;
    return nullptr;
  }

 signals:
  /// After a model is loaded, a run/comparison/generation finished, was cancelled or failed, a session opened.
  void idle();

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void activateCurrentTab();
  void addTab(AnalysisTab* tab);
  void onLoaded(const ModelSummary& summary, bool acceptsPair);
  void onFailed(RunController::State during, const QString& title, const QString& message);
  void onState();
  bool request(RunRequest& r);
  void status(const QString& text, int ms = 8000);
  void focusView();
  void showShortcuts();
  void showAbout();
  void addRecent(const QString& dir);
  void fillRecentMenu();

  AnalysisDocument* m_doc;
  ViewState* m_view;
  RunController* m_runner;
  InputPanel* m_input = nullptr;
  ViewControls* m_controls = nullptr;
  QTabWidget* m_tabs = nullptr;
  StepKlTimeline* m_klTimeline = nullptr;
  ExportController* m_exports = nullptr;
  SessionController* m_sessions = nullptr;
  QProgressBar* m_progress = nullptr;
  QMenu* m_recent = nullptr;
  QDockWidget* m_dock = nullptr;
  QString m_device = "auto";
  QString m_dtype = "auto";
  bool m_runAfterLoad = false;
};

}  // namespace attnscope
