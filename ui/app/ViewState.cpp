#include "ViewState.h"

#include <algorithm>

namespace attnscope {

void ViewState::setStack(const QString& stack) {
  if (stack == m_stack) return;
  m_stack = stack;
  emit headChanged();
}

void ViewState::setLayer(int layer) { setLayerHead(layer, m_head); }

void ViewState::setHead(int head) { setLayerHead(m_layer, head); }

void ViewState::setLayerHead(int layer, int head) {
  layer = std::max(0, layer);
  head = std::max(0, head);
  if (layer == m_layer && head == m_head) return;
  m_layer = layer;
  m_head = head;
  emit headChanged();
}

void ViewState::setPin(int query, int key) {
  query = std::max(-1, query);
  key = std::max(-1, key);
  if (query == m_pinQuery && key == m_pinKey) return;
  m_pinQuery = query;
  m_pinKey = key;
  emit pinChanged(query, key);
}

void ViewState::setStep(int step) {
  step = std::max(0, step);
  if (step == m_step) return;
  m_step = step;
  emit stepChanged(step);
}

void ViewState::setColorMap(const QString& name) {
  if (name == m_colormap || name.isEmpty()) return;
  m_colormap = name;
  emit appearanceChanged();
}

void ViewState::setScale(Scale scale, double gamma) {
  if (scale == m_scale && gamma == m_gamma) return;
  m_scale = scale;
  m_gamma = std::clamp(gamma, 0.1, 3.0);
  emit appearanceChanged();
}

void ViewState::setRange(bool automatic, double lo, double hi) {
  if (automatic == m_autoRange && lo == m_rangeLo && hi == m_rangeHi) return;
  m_autoRange = automatic;
  m_rangeLo = lo;
  m_rangeHi = hi;
  emit appearanceChanged();
}

void ViewState::setWords(bool on) {
  if (on == m_words) return;
  m_words = on;
  emit wordsChanged(on);
}

QJsonObject ViewState::toJson() const {
  return QJsonObject{{"stack", m_stack},         {"layer", m_layer},         {"head", m_head},
                     {"pin_query", m_pinQuery},  {"pin_key", m_pinKey},      {"step", m_step},
                     {"colormap", m_colormap},   {"scale", static_cast<int>(m_scale)},
                     {"gamma", m_gamma},         {"auto_range", m_autoRange}, {"range_lo", m_rangeLo},
                     {"range_hi", m_rangeHi},    {"words", m_words}};
}

void ViewState::fromJson(const QJsonObject& v) {
  setColorMap(v.value("colormap").toString(m_colormap));
  setScale(static_cast<Scale>(std::clamp(v.value("scale").toInt(static_cast<int>(m_scale)), 0, 2)),
           v.value("gamma").toDouble(m_gamma));
  setRange(v.value("auto_range").toBool(m_autoRange), v.value("range_lo").toDouble(m_rangeLo),
           v.value("range_hi").toDouble(m_rangeHi));
  setStack(v.value("stack").toString(m_stack));
  setLayerHead(v.value("layer").toInt(m_layer), v.value("head").toInt(m_head));
  setStep(v.value("step").toInt(m_step));
  setWords(v.value("words").toBool(m_words));
  setPin(v.value("pin_query").toInt(m_pinQuery), v.value("pin_key").toInt(m_pinKey));
}

}  // namespace attnscope
