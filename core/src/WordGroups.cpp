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

}  // namespace attnscope
