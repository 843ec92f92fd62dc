#include "WordLevel.h"

#include <QObject>

namespace attnscope {

WordLevel::WordLevel(bool on, const std::vector<std::string>& queryLabels, const std::vector<std::string>& keyLabels)
    : m_active(on && !queryLabels.empty() && !keyLabels.empty()) {
  if (!m_active) return;
  m_queries = wordGroups(queryLabels);
  m_keys = wordGroups(keyLabels);
}

AttentionMatrix WordLevel::merge(const AttentionMatrix& a) const {
  if (!m_active || a.onDemand) return a;
  AttentionMatrix w;
  w.stack = a.stack;
  w.layer = a.layer;
  w.headIndex = a.headIndex;
  w.heads = a.heads;
  w.q = static_cast<int>(m_queries.labels.size());
  w.k = static_cast<int>(m_keys.labels.size());
  w.data.reserve(static_cast<size_t>(w.heads) * w.q * w.k);
  for (int h = 0; h < a.heads; ++h) {
    const std::vector<float> head =
        attentionByWords(a.data.data() + static_cast<size_t>(h) * a.q * a.k, a.q, a.k, m_queries, m_keys);
    w.data.insert(w.data.end(), head.begin(), head.end());
  }
  return w;
}

std::vector<float> WordLevel::merge(const std::vector<float>& values, int rows, int cols) const {
  if (!m_active) return values;
  return attentionByWords(values.data(), rows, cols, m_queries, m_keys);
}

QString WordLevel::rule() { return QObject::tr(" · words (keys summed, queries averaged)"); }

int WordLevel::toWord(const WordGroups& g, int position) const {
  if (!m_active || position < 0) return position;
  return position < static_cast<int>(g.wordOf.size()) ? g.wordOf[static_cast<size_t>(position)] : -1;
}

int WordLevel::toPosition(const WordGroups& g, int word) const {
  if (!m_active || word < 0) return word;
  return word < static_cast<int>(g.first.size()) ? g.first[static_cast<size_t>(word)] : -1;
}

}  // namespace attnscope
