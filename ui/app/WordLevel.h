#pragma once
// The word-level form of a text view (ViewState::words()): the word groups of its query and key labels, the
// attention merged into them (keys summed, queries averaged: WordGroups.h) and the mapping between positions — what
// the view state pins — and the words drawn.
#include <QString>
#include <string>
#include <vector>

#include "attnscope/EngineSession.h"
#include "attnscope/WordGroups.h"

namespace attnscope {

class WordLevel {
 public:
  WordLevel() = default;
  /// Active when \p on and the model reads text; else every call passes positions through.
  WordLevel(bool on, const ModelSummary& summary, const std::vector<std::string>& queryLabels,
            const std::vector<std::string>& keyLabels)
      : WordLevel(on && summary.modality == "text", queryLabels, keyLabels) {}
  /// Active when \p on (the caller knows the labels are text).
  WordLevel(bool on, const std::vector<std::string>& queryLabels, const std::vector<std::string>& keyLabels);
  bool active() const { return m_active; }
  const std::vector<std::string>& queryLabels() const { return m_queries.labels; }
  const std::vector<std::string>& keyLabels() const { return m_keys.labels; }
  /// Every head of \p a at word level (\p a must hold its probabilities).
  AttentionMatrix merge(const AttentionMatrix& a) const;
  /// One [rows, cols] matrix (row-major) at word level.
  std::vector<float> merge(const std::vector<float>& values, int rows, int cols) const;
  /// The word drawn for query / key position \p position (−1 stays −1).
  int queryWord(int position) const { return toWord(m_queries, position); }
  int keyWord(int position) const { return toWord(m_keys, position); }
  /// The first position of query / key word \p word (−1 stays −1): what a click on a word pins.
  int queryPosition(int word) const { return toPosition(m_queries, word); }
  int keyPosition(int word) const { return toPosition(m_keys, word); }
  /// The rule, for titles: " · words (keys summed, queries averaged)".
  static QString rule();

 private:
  int toWord(const WordGroups& g, int position) const;
  int toPosition(const WordGroups& g, int word) const;
  bool m_active = false;
  WordGroups m_queries, m_keys;
};

}  // namespace attnscope
