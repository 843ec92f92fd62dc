#include "AnalysisDocument.h"

#include <algorithm>
#include <cstdio>

namespace attnscope {

int AnalysisDocument::stackIndex(const QString& name) const {
  if (!m_capture) return 0;
  const auto it = std::find(m_capture->stacks.begin(), m_capture->stacks.end(), name.toStdString());
  return it == m_capture->stacks.end() ? 0 : static_cast<int>(it - m_capture->stacks.begin());
}

const AttentionMatrix* AnalysisDocument::matrix(const QString& stack, int layer) const {
  if (!m_capture || m_capture->stacks.empty()) return nullptr;
  return m_capture->find(m_capture->stacks[stackIndex(stack)], layer);
}

int AnalysisDocument::layerCount() const {
  int layers = m_hasModel ? m_summary.layers : 0;
  if (m_capture)
    for (const auto& a : m_capture->layers) layers = std::max(layers, a.layer + 1);
  return layers;
}

int AnalysisDocument::headCount() const {
  int heads = m_hasModel ? m_summary.heads : 0;
  if (m_capture)
    for (const auto& a : m_capture->layers) heads = std::max(heads, a.heads);
  return heads;
}

void AnalysisDocument::setModel(const ModelSummary& summary, bool acceptsPair) {
  m_hasModel = true;
  m_summary = summary;
  m_modelDir = QString::fromStdString(summary.dir);
  m_acceptsPair = acceptsPair;
  m_capture.reset();
  m_promptLength = -1;
  m_comparison.reset();
  m_request = RunRequest();
  m_sweep.reset();
  m_pruned.clear();
  emit modelChanged();
  emit captureChanged();
  emit comparisonChanged();
  emit sweepChanged();
  emit prunedHeadsChanged();
}

void AnalysisDocument::setModelMissing(const QString& dir) {
  m_hasModel = false;
  m_summary = ModelSummary();
  m_modelDir = dir;
  m_acceptsPair = false;
  emit modelChanged();
}

void AnalysisDocument::setCapture(std::shared_ptr<const CaptureResult> capture, int promptLength) {
  m_capture = std::move(capture);
  m_promptLength = m_capture ? promptLength : -1;
  emit captureChanged();
}

void AnalysisDocument::setSweep(std::shared_ptr<const PruneSweepResult> sweep) {
  m_sweep = std::move(sweep);
  emit sweepChanged();
}

void AnalysisDocument::setPrunedHeads(const std::set<std::pair<int, int>>& heads) {
  if (heads == m_pruned) return;
  m_pruned = heads;
  emit prunedHeadsChanged();
}

void AnalysisDocument::togglePruned(int layer, int head) {
  auto heads = m_pruned;
  if (!heads.erase({layer, head})) heads.insert({layer, head});
  setPrunedHeads(heads);
}

QStringList AnalysisDocument::prunedHeadNames() const {
  QStringList names;
  for (const auto& [l, h] : m_pruned) names << QString("L%1H%2").arg(l).arg(h);
  return names;
}

QString AnalysisDocument::pruneSpec() const {
  return m_pruned.empty() ? QString() : "prune:heads=" + prunedHeadNames().join(',');
}

std::set<std::pair<int, int>> AnalysisDocument::parseHeadNames(const std::vector<std::string>& names) {
  std::set<std::pair<int, int>> heads;
  for (const auto& n : names) {
    int l = -1, h = -1;
    char tail = 0;
    if (std::sscanf(n.c_str(), "L%dH%d%c", &l, &h, &tail) == 2 && l >= 0 && h >= 0) heads.insert({l, h});
  }
  return heads;
}

void AnalysisDocument::setComparison(std::shared_ptr<const ComparisonResult> comparison) {
  m_comparison = std::move(comparison);
  emit comparisonChanged();
}

}  // namespace attnscope
