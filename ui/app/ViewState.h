#pragma once
#include <QJsonObject>
#include <QObject>
#include <QString>

namespace attnscope {

/// What every view shows: stack, layer, head, the pinned cell, the generation step, the colour map, the colour
/// scale and range. One per window; views follow its signals and write back through its setters, and it saves and
/// restores itself as JSON. Views work without it (they take the same values through their own setters).
class ViewState : public QObject {
  Q_OBJECT
 public:
  /// Same order as HeatmapView::Scale.
  enum class Scale { Linear, Log, Power };

  explicit ViewState(QObject* parent = nullptr) : QObject(parent) {}

  QString stack() const { return m_stack; }  ///< "" = the capture's first stack
  int layer() const { return m_layer; }
  int head() const { return m_head; }
  int pinQuery() const { return m_pinQuery; }  ///< -1 = none
  int pinKey() const { return m_pinKey; }
  int step() const { return m_step; }  ///< generated step whose row is pinned (0 = none)
  QString colorMap() const { return m_colormap; }
  Scale scale() const { return m_scale; }
  double gamma() const { return m_gamma; }
  bool autoRange() const { return m_autoRange; }
  double rangeLo() const { return m_rangeLo; }
  double rangeHi() const { return m_rangeHi; }
  /// Text views merge sub-word pieces into words (keys summed, queries averaged); pins stay positions.
  bool words() const { return m_words; }

  void setStack(const QString& stack);
  void setLayer(int layer);
  void setHead(int head);
  /// Layer and head at once (one headChanged()).
  void setLayerHead(int layer, int head);
  void setPin(int query, int key);
  void setStep(int step);
  void setColorMap(const QString& name);
  void setScale(Scale scale, double gamma);
  void setRange(bool automatic, double lo, double hi);
  void setWords(bool on);

  QJsonObject toJson() const;
  /// Restores what \p json names; missing keys keep today's values.
  void fromJson(const QJsonObject& json);

 signals:
  /// Stack, layer or head changed.
  void headChanged();
  void pinChanged(int query, int key);
  void stepChanged(int step);
  /// Colour map, scale or range changed.
  void appearanceChanged();
  void wordsChanged(bool on);

 private:
  QString m_stack;
  int m_layer = 0, m_head = 0;
  int m_pinQuery = -1, m_pinKey = -1;
  int m_step = 0;
  QString m_colormap = "viridis";
  Scale m_scale = Scale::Linear;
  double m_gamma = 0.5;
  bool m_autoRange = true;
  double m_rangeLo = 0.0, m_rangeHi = 1.0;
  bool m_words = false;
};

}  // namespace attnscope
