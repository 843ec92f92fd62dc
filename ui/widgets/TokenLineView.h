#pragma once
#include <QWidget>
#include <algorithm>
#include <memory>

#include "attnscope/EngineSession.h"

namespace attnscope {

/// BertViz-style "head view": query tokens on the left, key tokens on the right, a line from each query to each
/// key whose opacity and width follow the attention weight. Click a query token to show only its lines (click it
/// again for all). Several heads can be overlaid, each in its own colour.
class TokenLineView : public QWidget {
  Q_OBJECT
 public:
  explicit TokenLineView(QWidget* parent = nullptr);
  /// Shows heads \p heads (slots of \p matrix) with the given labels.
  void setAttention(const AttentionMatrix& matrix, const std::vector<int>& heads, const std::vector<std::string>& queries,
                    const std::vector<std::string>& keys);
  void setSelectedQuery(int query);  ///< -1 = every query
  int selectedQuery() const { return m_selected; }
  /// The weight the line (query → key) of head slot \p head is drawn with.
  float weight(int head, int query, int key) const;
  /// Centre of a query token on the left column, for tests.
  QPoint queryPoint(int query) const;
  /// Height the drawn tokens and lines take (the rest of the widget below them is empty).
  int contentHeight() const { return 20 + std::max(m_matrix.q, m_matrix.k) * rowHeight(); }

 signals:
  void querySelected(int query);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* event) override;

 private:
  int rowHeight() const;
  AttentionMatrix m_matrix;
  std::vector<int> m_heads;
  std::vector<std::string> m_queries, m_keys;
  int m_selected = -1;
};

}  // namespace attnscope
