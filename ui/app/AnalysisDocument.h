#pragma once
#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>
#include <set>

#include "attnscope/EngineSession.h"

namespace attnscope {

/// The analysis on screen: the model summary, the capture (a run, a generation or a restored session), the
/// comparison and the request that made them. The only owner of results; views read it and follow its signals.
/// Opening another model replaces everything at once (setModel), so nothing of the previous model stays.
class AnalysisDocument : public QObject {
  Q_OBJECT
 public:
  explicit AnalysisDocument(QObject* parent = nullptr) : QObject(parent) {}

  bool hasModel() const { return m_hasModel; }
  const ModelSummary& summary() const { return m_summary; }
  /// The model folder: the loaded model's, or the one a session names when its folder is missing.
  QString modelDir() const { return m_modelDir; }
  /// The model takes a second text (sentence pair, or the target of an encoder–decoder model).
  bool acceptsPair() const { return m_acceptsPair; }
  std::shared_ptr<const CaptureResult> capture() const { return m_capture; }
  /// Prompt positions of a generation on screen; -1 when the capture is not a generation.
  int promptLength() const { return m_promptLength; }
  std::shared_ptr<const ComparisonResult> comparison() const { return m_comparison; }
  /// The last pruning sweep (null before one ran).
  std::shared_ptr<const PruneSweepResult> sweep() const { return m_sweep; }
  /// Heads chosen for pruning (layer, head): toggled in the Overview, or a sweep point's heads.
  const std::set<std::pair<int, int>>& prunedHeads() const { return m_pruned; }
  /// The chosen heads as "L3H2" names, in (layer, head) order.
  QStringList prunedHeadNames() const;
  /// The variant spec that prunes the chosen heads ("prune:heads=L0H1,L3H2"); empty when none are chosen.
  QString pruneSpec() const;
  const RunRequest& request() const { return m_request; }

  /// Index of stack \p name in the capture (0 when absent or empty).
  int stackIndex(const QString& name) const;
  /// The matrix of (stack, layer) of the capture, or null.
  const AttentionMatrix* matrix(const QString& stack, int layer) const;
  /// Layers and heads of the capture (at least the model's, when one is loaded).
  int layerCount() const;
  int headCount() const;

  /// A new model: its summary replaces the old one and every result of the old model is dropped.
  void setModel(const ModelSummary& summary, bool acceptsPair);
  /// A session whose model folder is missing: no model, its results stay viewable.
  void setModelMissing(const QString& dir);
  void setCapture(std::shared_ptr<const CaptureResult> capture, int promptLength = -1);
  void setComparison(std::shared_ptr<const ComparisonResult> comparison);
  void setRequest(const RunRequest& request) { m_request = request; }
  void setSweep(std::shared_ptr<const PruneSweepResult> sweep);
  void setPrunedHeads(const std::set<std::pair<int, int>>& heads);
  /// Adds or removes one head from the pruning choice.
  void togglePruned(int layer, int head);
  /// Parses "L3H2" names (others are ignored).
  static std::set<std::pair<int, int>> parseHeadNames(const std::vector<std::string>& names);

 signals:
  void modelChanged();
  void captureChanged();
  void comparisonChanged();
  void sweepChanged();
  void prunedHeadsChanged();

 private:
  bool m_hasModel = false;
  ModelSummary m_summary;
  QString m_modelDir;
  bool m_acceptsPair = false;
  std::shared_ptr<const CaptureResult> m_capture;
  int m_promptLength = -1;
  std::shared_ptr<const ComparisonResult> m_comparison;
  RunRequest m_request;
  std::shared_ptr<const PruneSweepResult> m_sweep;
  std::set<std::pair<int, int>> m_pruned;
};

}  // namespace attnscope
