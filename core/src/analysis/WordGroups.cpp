#include "attnscope/WordGroups.h"

#include <algorithm>
#include <cctype>

#include "attnscope/Errors.h"

namespace attnscope {

namespace {
bool isSpecial(const std::string& l) {
  return l.size() >= 3 && ((l.front() == '[' && l.back() == ']') || (l.front() == '<' && l.back() == '>'));
}
/// Only ASCII punctuation and symbols (",", ".", "!", "'s" is not one).
bool isPunctuation(const std::string& l) {
  return !l.empty() && std::all_of(l.begin(), l.end(), [](unsigned char c) {
    return c < 0x80 && !std::isalnum(c) && !std::isspace(c);
  });
}
}  // namespace

WordGroups wordGroups(const std::vector<std::string>& labels) {
  const bool wordPiece = std::any_of(labels.begin(), labels.end(), [](const std::string& l) {
    return l.size() > 2 && l.compare(0, 2, "##") == 0;
  });
  WordGroups g;
  bool previousClosed = true;  // the previous piece cannot be continued (special, punctuation, nothing yet)
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& l = labels[i];
    const bool special = isSpecial(l), punctuation = isPunctuation(l);
    bool continues;
    if (wordPiece)
      continues = l.size() > 2 && l.compare(0, 2, "##") == 0;
    else
      continues = !l.empty() && l[0] != ' ' && l[0] != '\n' && !special && !punctuation;
    if (continues && !previousClosed && !g.labels.empty()) {
      g.labels.back() += wordPiece ? l.substr(2) : l;
    } else {
      g.labels.push_back(l);
      g.first.push_back(static_cast<int>(i));
    }
    g.wordOf.push_back(static_cast<int>(g.labels.size()) - 1);
    previousClosed = special || punctuation;
  }
  return g;
}

std::vector<double> sumByWord(const WordGroups& words, const std::vector<double>& scores) {
  if (scores.size() != words.wordOf.size())
    throw InputError("word-level scores: " + std::to_string(scores.size()) + " values for " +
                     std::to_string(words.wordOf.size()) + " positions");
  std::vector<double> out(words.labels.size(), 0.0);
  for (size_t i = 0; i < scores.size(); ++i) out[static_cast<size_t>(words.wordOf[i])] += scores[i];
  return out;
}

std::vector<float> attentionByWords(const float* probs, int q, int k, const WordGroups& queries,
                                    const WordGroups& keys) {
  if (static_cast<int>(queries.wordOf.size()) != q || static_cast<int>(keys.wordOf.size()) != k)
    throw InputError("word-level attention: " + std::to_string(queries.wordOf.size()) + " query and " +
                     std::to_string(keys.wordOf.size()) + " key positions grouped for a " + std::to_string(q) +
                     " x " + std::to_string(k) + " matrix");
  const size_t rows = queries.labels.size(), cols = keys.labels.size();
  std::vector<double> sum(rows * cols, 0.0);
  std::vector<int> pieces(rows, 0);
  for (int i = 0; i < q; ++i) {
    const size_t w = static_cast<size_t>(queries.wordOf[static_cast<size_t>(i)]);
    ++pieces[w];
    const float* row = probs + static_cast<size_t>(i) * k;
    for (int j = 0; j < k; ++j) sum[w * cols + static_cast<size_t>(keys.wordOf[static_cast<size_t>(j)])] += row[j];
  }
  std::vector<float> out(rows * cols, 0.0f);
  for (size_t w = 0; w < rows; ++w)
    for (size_t c = 0; c < cols; ++c)
      out[w * cols + c] = pieces[w] ? static_cast<float>(sum[w * cols + c] / pieces[w]) : 0.0f;
  return out;
}

}  // namespace attnscope
