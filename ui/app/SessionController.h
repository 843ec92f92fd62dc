#pragma once
#include <QJsonObject>
#include <QObject>
#include <QTabWidget>
#include <memory>

#include "AnalysisDocument.h"
#include "InputPanel.h"
#include "RunController.h"
#include "ViewState.h"

namespace attnscope {

/// Saves and opens `.attnscope` sessions: the model folder, the inputs, the view state, every tab's own state
/// (each tab saves itself) and the captures on screen. Opening shows the session's results at once, reloads its
/// model when the folder exists and runs its input once more in the background (importance and overlays need the
/// engine's tensors), keeping the restored capture on screen. One explicit phase instead of flags.
class SessionController : public QObject {
  Q_OBJECT
 public:
  enum class Phase { None, Reading, LoadingModel, Rerunning };

  SessionController(AnalysisDocument* document, ViewState* view, RunController* runner, InputPanel* input,
                    QTabWidget* tabs, QWidget* window);

  /// The JSON a session file stores.
  QJsonObject state(const QString& device) const;
  /// Writes a session (on the worker thread, atomically); saved() when done. False when there is nothing to save.
  bool save(const QString& path, const QString& device);
  /// Starts opening a session; opened() when its results are shown and its model (if found) is ready.
  bool open(const QString& path, const QString& device, const QString& dtype);
  Phase phase() const { return m_phase; }

  /// MainWindow calls these first from its handlers; true when the event belonged to the session being opened.
  bool modelLoaded();
  bool runFinished();
  bool jobFailed(const QString& title, const QString& message);

 signals:
  void saved(const QString& path);
  void opened();
  void statusMessage(const QString& text);

 private:
  void onRead(const QString& path, const QString& json, std::shared_ptr<const CaptureResult> capture,
              std::shared_ptr<const ComparisonResult> comparison, bool modelFound);
  /// Puts the session's results and state on screen.
  void adopt();
  void finish(const QString& message);

  AnalysisDocument* m_doc;
  ViewState* m_view;
  RunController* m_runner;
  InputPanel* m_input;
  QTabWidget* m_tabs;
  QWidget* m_window;
  Phase m_phase = Phase::None;
  QJsonObject m_state;
  std::shared_ptr<const CaptureResult> m_capture;
  std::shared_ptr<const ComparisonResult> m_comparison;
};

}  // namespace attnscope
