#pragma once
#include <QJsonObject>
#include <QString>
#include <QWidget>

#include "AnalysisDocument.h"
#include "FigureExport.h"
#include "RunController.h"
#include "ViewState.h"

namespace attnscope {

/// One tab of the main window. A tab reads the document and the view state, asks the run controller for what it
/// computes, draws itself as a figure and saves its own options; tabs never know each other and MainWindow only
/// lists them.
class AnalysisTab : public QWidget {
  Q_OBJECT
 public:
  using QWidget::QWidget;

  /// The tab's label.
  virtual QString title() const = 0;
  /// Stable name for `--tab` and session files ("head", "overview", …).
  virtual QString key() const = 0;
  /// Whether the tab has anything to show for a model (e.g. the input overlay only for image and audio models).
  virtual bool availableFor(const ModelSummary& summary) const {
    (void)summary;
    return true;
  }
  /// Connects the tab; \p runner may be null (then computed views stay empty).
  void attach(AnalysisDocument* document, ViewState* view, RunController* runner);
  /// The tab became the visible one (or stopped being it): computed views refresh only when visible.
  void setActive(bool active);
  bool isActive() const { return m_active; }
  /// Writes the tab as a figure (.pdf, .svg or .png at \p dpi) atomically; throws std::runtime_error with the reason.
  virtual void writeFigure(const QString& path, int dpi) const = 0;
  /// Whether writeFigure() has something to draw now.
  virtual bool hasFigure() const;
  /// A file name (no folder, no suffix) for the figure, from the model, layer and head.
  virtual QString figureName() const;
  virtual QJsonObject saveState() const { return {}; }
  virtual void restoreState(const QJsonObject& state) { (void)state; }

 signals:
  /// The user picked a head in this tab (open it in the head view).
  void headChosen(int layer, int head);
  /// The tab finished drawing a new result (a computed matrix, a picture).
  void shown();
  void statusMessage(const QString& text);
  /// Compare full with these variant specs on the current input (the window runs it and shows the Compare tab).
  void compareRequested(const QStringList& specs);

 protected:
  /// Called when attached and whenever the document or view state changes while the tab is visible.
  virtual void refresh() = 0;
  virtual void connectSignals() {}
  /// The capture's stack the view state names (its first when none).
  std::string currentStack() const;
  int currentStackIndex() const;
  /// A figure request for \p path (format from its suffix) of the current stack, layer, head and colour map.
  FigureRequest figureRequest(const QString& path, int dpi, const std::string& kind) const;
  /// The model's folder name (what titles and file names call it).
  QString modelName() const;

  AnalysisDocument* m_doc = nullptr;
  ViewState* m_view = nullptr;
  RunController* m_runner = nullptr;
  bool m_active = false;
};

}  // namespace attnscope
