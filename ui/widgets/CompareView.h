#pragma once
#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QWidget>
#include <memory>

#include "HeatmapView.h"
#include "WordLevel.h"
#include "attnscope/EngineSession.h"

namespace attnscope {

/// Side-by-side comparison of attention variants on one input: `full` and up to three variants on one shared
/// colour scale, the difference (variant − full) on a diverging map, the comparison engine's metrics table, and
/// the per-head JS-divergence grid of the chosen variant. The layer/head chosen in the main window applies to
/// every panel at once.
class CompareView : public QWidget {
  Q_OBJECT
 public:
  explicit CompareView(QWidget* parent = nullptr);

  /// The variant specs to compare (empty fields skipped).
  QStringList specs() const;
  void setSpecs(const QStringList& specs);
  void setResult(std::shared_ptr<const ComparisonResult> result);
  /// Forgets the comparison (another model was opened): no panels, an empty table.
  void clear();
  std::shared_ptr<const ComparisonResult> result() const { return m_result; }
  /// Shows (stack, layer, head) in every panel.
  void showHead(const std::string& stack, int layer, int head);
  void setColorMap(const QString& name);
  void setBusy(bool busy);
  /// Pins query row \p query / key column \p key (-1 = none) in every panel and the difference map.
  /// Pins query / key position \p query, \p key (words at word level).
  void setPin(int query, int key);
  /// Sub-word pieces merged into words in every panel and the difference (keys summed, queries averaged); \p on
  /// only for text models.
  void setWords(bool on);
  /// Colour scale of the attention panels (the difference map stays linear).
  void setScale(HeatmapView::Scale scale, double gamma);

  HeatmapView* panel(int i) const { return i < static_cast<int>(m_panels.size()) ? m_panels[i] : nullptr; }
  HeatmapView* difference() const { return m_diff; }
  HeatmapView* jsGrid() const { return m_js; }
  QTableWidget* table() const { return m_table; }
  QComboBox* differenceOf() const { return m_diffOf; }
  /// The output effect of every variant (KL, top-1 agreement, changed predictions, next tokens), as shown.
  QLabel* outputSummary() const { return m_output; }

 signals:
  void compareRequested(const QStringList& specs);
  /// A cell of the JS grid was clicked: open that head.
  void headChosen(int layer, int head);
  /// A row/column was pinned in one panel (and is now pinned in all).
  void pinChanged(int query, int key);

 private:
  void refresh();
  void showOutputEffect();
  std::vector<QComboBox*> m_specs;
  QPushButton* m_go;
  QComboBox* m_diffOf;
  std::vector<HeatmapView*> m_panels;
  QSplitter* m_panelSplitter = nullptr;
  QSplitter* m_vertical = nullptr;
  HeatmapView* m_diff;
  HeatmapView* m_js;
  QTableWidget* m_table;
  QLabel* m_output;
  std::shared_ptr<const ComparisonResult> m_result;
  std::string m_stack = "self";
  int m_layer = 0, m_head = 0;
  int m_pinQuery = -1, m_pinKey = -1;
  bool m_wordsWanted = false;
  WordLevel m_words;  ///< the word groups drawn (inactive: positions)
};

}  // namespace attnscope
