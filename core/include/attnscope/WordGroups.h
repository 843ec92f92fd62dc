#pragma once
/// \file WordGroups.h
/// Sub-word pieces merged into words, for word-level views: a piece continues the word before it when it is a
/// WordPiece continuation ("##ing"), or — for tokenizers that mark word starts with a space (byte-level BPE,
/// SentencePiece) — when it starts with neither a space nor is punctuation or a special token. Plain types
/// only.

#include <string>
#include <vector>

namespace attnscope {

/// Words of a sequence of position labels.
struct WordGroups {
  std::vector<int> wordOf;          ///< for each position, the index of its word
  std::vector<std::string> labels;  ///< each word's text (its pieces joined, "##" dropped)
  std::vector<int> first;           ///< each word's first position
};

/// Groups \p labels (display labels of the positions: " Once", "ir", "##ing", "[CLS]", "<s>").
WordGroups wordGroups(const std::vector<std::string>& labels);

/// Scores over positions summed per word (the rule for attribution over sources: a word gets what its pieces
/// get).
std::vector<double> sumByWord(const WordGroups& words, const std::vector<double>& scores);

/// One head's attention [q, k] (row-major) at word level, [query words, key words]: a query's weight on a word is
/// the sum of its weights on the word's pieces, and a query word's row is the mean of its pieces' rows (so rows
/// that summed to 1 still do). \p queries and \p keys group the q query and k key positions. Throws InputError
/// when they do not.
std::vector<float> attentionByWords(const float* probs, int q, int k, const WordGroups& queries,
                                    const WordGroups& keys);

}  // namespace attnscope
