#pragma once
#include <QImage>
#include <QWidget>
#include <memory>
#include <set>

#include "attnscope/EngineSession.h"

namespace attnscope {

/// The model overview: every captured head of one stack as a thumbnail in a layers × heads grid (rows = layers,
/// columns = heads), drawn into one cached image so 12×12 and larger models stay fluid. Click a thumbnail to open
/// that head; the selected one is framed.
class OverviewView : public QWidget {
  Q_OBJECT
 public:
  explicit OverviewView(QWidget* parent = nullptr);
  void setCapture(std::shared_ptr<const CaptureResult> capture, const std::string& stack);
  void setColorMap(const QString& name);
  void setSelected(int layer, int head);
  /// Colours each thumbnail's frame by a head metric (\p grid: [layers × heads], e.g. entropy, sink mass or
  /// importance), from the lowest value (dark) to the highest (bright) with a legend under the grid; an empty grid
  /// removes the frames.
  void setFrameMetric(const std::vector<float>& grid, int layers, int heads, const QString& name);
  /// Heads drawn crossed out in red (chosen for pruning, or pruned by the variant shown).
  void setMarkedHeads(const std::set<std::pair<int, int>>& heads);
  const std::set<std::pair<int, int>>& markedHeads() const { return m_marked; }
  /// The frame colour of (layer, head); invalid when no metric is shown.
  QColor frameColor(int layer, int head) const;
  /// Tile geometry, for tests: the widget-space rectangle of (layer, head).
  QRect tileRect(int layer, int head) const;
  int rows() const { return static_cast<int>(m_layers.size()); }
  /// What the thumbnails are drawn from (a word-level copy of the document's capture while words are on).
  const CaptureResult* capture() const { return m_capture.get(); }
  int columns() const { return m_heads; }
  /// Milliseconds the last full redraw of the grid image took.
  double lastRenderMs() const { return m_renderMs; }

 signals:
  void headChosen(int layer, int head);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* event) override;
  void resizeEvent(QResizeEvent*) override;

 private:
  void rebuild();
  std::shared_ptr<const CaptureResult> m_capture;
  std::string m_stack = "self";
  QString m_colormap = "viridis";
  std::vector<int> m_layers;
  int m_heads = 0, m_tile = 64, m_gap = 6, m_left = 36, m_top = 22;
  int m_selLayer = -1, m_selHead = -1;
  QImage m_image;
  std::vector<float> m_frame;
  int m_frameLayers = 0, m_frameHeads = 0;
  QString m_frameName;
  double m_renderMs = 0;
  std::set<std::pair<int, int>> m_marked;
};

}  // namespace attnscope
