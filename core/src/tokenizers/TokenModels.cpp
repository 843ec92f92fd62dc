// Vocabulary models of tokenizer.json: BPE (merges by rank, continuing_subword_prefix, end_of_word_suffix,
// byte_fallback, fuse_unk, ignore_merges), WordPiece (greedy longest match) and Unigram (Viterbi), registered by
// "type". Every id and merge is checked against the vocabulary before anything is sized by it.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "TokenizerParts.h"
#include "attnscope/Errors.h"

namespace attnscope::tok {
namespace {

/// Ids may exceed the number of entries by this much (added tokens past the vocabulary); beyond it a file is refused.
constexpr int64_t kIdSlack = int64_t(1) << 16;

std::map<std::string, int64_t> readVocab(const Json& vocab) {
  std::map<std::string, int64_t> out;
  const auto members = vocab.members();
  const int64_t limit = static_cast<int64_t>(members.size()) + kIdSlack;
  for (const auto& [piece, id] : members) out[piece] = id.integer(0, limit - 1);
  return out;
}

/// UTF-8 code point boundaries of \p s.
std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

class Bpe : public TokenModel {
 public:
  explicit Bpe(const Json& j) {
    m_vocab = readVocab(j["vocab"]);
    for (const auto& [piece, id] : m_vocab) {
      if (id >= static_cast<int64_t>(m_pieces.size())) m_pieces.resize(static_cast<size_t>(id) + 1);
      m_pieces[static_cast<size_t>(id)] = piece;
      m_ids.emplace(piece, id);
    }
    m_prefix = j.str("continuing_subword_prefix", "");
    m_suffix = j.str("end_of_word_suffix", "");
    m_byteFallback = j.boolean("byte_fallback", false);
    m_fuseUnk = j.boolean("fuse_unk", false);
    m_ignoreMerges = j.boolean("ignore_merges", false);
    if (j.has("unk_token")) {
      const Json unk = j["unk_token"];
      auto it = m_ids.find(unk.str());
      if (it == m_ids.end()) unk.fail("'" + unk.str() + "' is not in the vocabulary");
      m_unk = it->second;
    }
    int64_t rank = 0;
    for (const Json& m : j["merges"].elements()) {
      std::string a, b;
      if (m.isString()) {  // "a b"
        const std::string s = m.str();
        const size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) m.fail("expected two tokens separated by a space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else {  // ["a", "b"]
        if (m.size() != 2) m.fail("expected a pair of tokens");
        a = m.at(0).str();
        b = m.at(1).str();
      }
      const std::string merged = a + (m_prefix.empty() || b.compare(0, m_prefix.size(), m_prefix) != 0
                                           ? b
                                           : b.substr(m_prefix.size()));
      const int64_t ia = idOrFail(a, m), ib = idOrFail(b, m), im = idOrFail(merged, m);
      m_merges.emplace(key(ia, ib), std::make_pair(rank++, im));
    }
  }

  std::string type() const override { return "BPE"; }
  bool byteFallback() const override { return m_byteFallback; }
  const std::map<std::string, int64_t>& vocab() const override { return m_vocab; }

  void tokenize(const std::string& word, std::vector<Token>& out) const override {
    if (word.empty()) return;
    {
      std::lock_guard<std::mutex> lock(m_cacheMutex);
      auto it = m_cache.find(word);
      if (it != m_cache.end()) {
        for (int64_t id : it->second) out.push_back({id, m_pieces[static_cast<size_t>(id)]});
        return;
      }
    }
    std::vector<int64_t> ids = merge(word);
    {
      std::lock_guard<std::mutex> lock(m_cacheMutex);
      if (m_cache.size() > 200000) m_cache.clear();
      m_cache.emplace(word, ids);
    }
    for (int64_t id : ids) out.push_back({id, m_pieces[static_cast<size_t>(id)]});
  }

 private:
  static uint64_t key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b); }

  int64_t idOrFail(const std::string& piece, const Json& where) const {
    auto it = m_ids.find(piece);
    if (it == m_ids.end()) where.fail("token '" + piece + "' of this merge is not in the vocabulary");
    return it->second;
  }

  std::vector<int64_t> merge(const std::string& word) const {
    if (m_ignoreMerges) {
      auto it = m_ids.find(word);
      if (it != m_ids.end()) return {it->second};
    }
    // Symbols: one per character (prefix on all but the first, suffix on the last), bytes or <unk> when unknown.
    std::vector<int64_t> sym;
    const std::vector<std::string> cs = chars(word);
    bool lastWasUnk = false;
    for (size_t i = 0; i < cs.size(); ++i) {
      const std::string s = (i > 0 ? m_prefix : "") + cs[i] + (i + 1 == cs.size() ? m_suffix : "");
      auto it = m_ids.find(s);
      if (it != m_ids.end()) {
        sym.push_back(it->second);
        lastWasUnk = false;
        continue;
      }
      if (m_byteFallback) {
        std::vector<int64_t> bytes;
        for (unsigned char b : cs[i]) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", b);
          auto bt = m_ids.find(name);
          if (bt == m_ids.end()) break;
          bytes.push_back(bt->second);
        }
        if (bytes.size() == cs[i].size()) {
          sym.insert(sym.end(), bytes.begin(), bytes.end());
          lastWasUnk = false;
          continue;
        }
      }
      if (m_unk < 0) continue;  // no unknown token configured: the character is dropped
      if (!(m_fuseUnk && lastWasUnk)) sym.push_back(m_unk);
      lastWasUnk = true;
    }
    // Merge the lowest-ranked adjacent pair, every occurrence left to right, until none applies.
    while (sym.size() > 1) {
      int64_t best = INT64_MAX, bestId = -1;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = m_merges.find(key(sym[i], sym[i + 1]));
        if (it != m_merges.end() && it->second.first < best) {
          best = it->second.first;
          bestId = it->second.second;
        }
      }
      if (bestId < 0) break;
      std::vector<int64_t> next;
      next.reserve(sym.size());
      for (size_t i = 0; i < sym.size();) {
        auto it = i + 1 < sym.size() ? m_merges.find(key(sym[i], sym[i + 1])) : m_merges.end();
        if (it != m_merges.end() && it->second.first == best) {
          next.push_back(bestId);
          i += 2;
        } else {
          next.push_back(sym[i++]);
        }
      }
      sym.swap(next);
    }
    return sym;
  }

  std::map<std::string, int64_t> m_vocab;
  std::unordered_map<std::string, int64_t> m_ids;
  std::vector<std::string> m_pieces;
  std::unordered_map<uint64_t, std::pair<int64_t, int64_t>> m_merges;  ///< (a, b) -> (rank, merged id)
  std::string m_prefix, m_suffix;
  bool m_byteFallback = false, m_fuseUnk = false, m_ignoreMerges = false;
  int64_t m_unk = -1;
  mutable std::mutex m_cacheMutex;
  mutable std::unordered_map<std::string, std::vector<int64_t>> m_cache;
};

class WordPiece : public TokenModel {
 public:
  explicit WordPiece(const Json& j) {
    m_vocab = readVocab(j["vocab"]);
    m_prefix = j.str("continuing_subword_prefix", "##");
    m_maxChars = j.has("max_input_chars_per_word") ? j["max_input_chars_per_word"].integer(1, INT32_MAX) : 100;
    const Json unk = j["unk_token"];
    auto it = m_vocab.find(unk.str());
    if (it == m_vocab.end()) unk.fail("'" + unk.str() + "' is not in the vocabulary");
    m_unk = {it->second, it->first};
  }
  std::string type() const override { return "WordPiece"; }
  const std::map<std::string, int64_t>& vocab() const override { return m_vocab; }

  void tokenize(const std::string& word, std::vector<Token>& out) const override {
    if (word.empty()) return;
    const std::vector<std::string> cs = chars(word);
    if (static_cast<int64_t>(cs.size()) > m_maxChars) {
      out.push_back(m_unk);
      return;
    }
    std::vector<Token> pieces;
    size_t start = 0;
    while (start < cs.size()) {
      size_t end = cs.size();
      Token found;
      while (end > start) {
        std::string sub;
        for (size_t i = start; i < end; ++i) sub += cs[i];
        if (start > 0) sub = m_prefix + sub;
        auto it = m_vocab.find(sub);
        if (it != m_vocab.end()) {
          found = {it->second, sub};
          break;
        }
        --end;
      }
      if (found.id < 0) {  // some part matches nothing: the whole word is unknown
        out.push_back(m_unk);
        return;
      }
      pieces.push_back(found);
      start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
  }

 private:
  std::map<std::string, int64_t> m_vocab;
  std::string m_prefix;
  int64_t m_maxChars = 100;
  Token m_unk;
};

class Unigram : public TokenModel {
 public:
  explicit Unigram(const Json& j) {
    const auto entries = j["vocab"].elements();
    double minScore = INFINITY;
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string piece = entries[i].at(0).str();
      const double score = entries[i].at(1).number();
      m_vocab.emplace(piece, static_cast<int64_t>(i));
      m_entries.push_back({piece, score});
      m_maxBytes = std::max(m_maxBytes, piece.size());
      minScore = std::min(minScore, score);
    }
    if (entries.empty()) j["vocab"].fail("the vocabulary is empty");
    m_unkScore = minScore - 10.0;  // HF's kUnkPenalty
    if (j.has("unk_id")) m_unk = j["unk_id"].integer(0, static_cast<int64_t>(entries.size()) - 1);
    m_byteFallback = j.boolean("byte_fallback", false);
  }
  std::string type() const override { return "Unigram"; }
  bool byteFallback() const override { return m_byteFallback; }
  const std::map<std::string, int64_t>& vocab() const override { return m_vocab; }

  void tokenize(const std::string& word, std::vector<Token>& out) const override {
    if (word.empty()) return;
    // Viterbi over byte positions at character boundaries: best score of a segmentation ending there.
    const size_t n = word.size();
    std::vector<double> best(n + 1, -INFINITY);
    std::vector<size_t> from(n + 1, 0);
    std::vector<int64_t> via(n + 1, -1);  // piece id, or -1 for <unk> (one character)
    best[0] = 0;
    for (size_t s = 0; s < n; ++s) {
      if (best[s] == -INFINITY || (static_cast<unsigned char>(word[s]) & 0xC0) == 0x80) continue;
      size_t charEnd = s + 1;
      while (charEnd < n && (static_cast<unsigned char>(word[charEnd]) & 0xC0) == 0x80) ++charEnd;
      bool singleChar = false;
      for (size_t e = charEnd; e <= n && e - s <= m_maxBytes; ++e) {
        if (e < n && (static_cast<unsigned char>(word[e]) & 0xC0) == 0x80) continue;
        auto it = m_vocab.find(word.substr(s, e - s));
        if (it == m_vocab.end()) continue;
        if (e == charEnd) singleChar = true;
        const double score = best[s] + m_entries[static_cast<size_t>(it->second)].score;
        if (score > best[e]) {
          best[e] = score;
          from[e] = s;
          via[e] = it->second;
        }
      }
      if (!singleChar && best[s] + m_unkScore > best[charEnd]) {
        best[charEnd] = best[s] + m_unkScore;
        from[charEnd] = s;
        via[charEnd] = -1;
      }
    }
    std::vector<std::pair<size_t, int64_t>> path;  // (start, id)
    for (size_t e = n; e > 0; e = from[e]) path.emplace_back(from[e], via[e]);
    std::reverse(path.begin(), path.end());
    bool lastUnk = false;
    for (size_t i = 0; i < path.size(); ++i) {
      const auto [s, id] = path[i];
      const size_t e = i + 1 < path.size() ? path[i + 1].first : n;
      if (id >= 0) {
        out.push_back({id, m_entries[static_cast<size_t>(id)].piece});
        lastUnk = false;
        continue;
      }
      if (m_byteFallback) {
        bool all = true;
        std::vector<Token> bytes;
        for (size_t b = s; b < e && all; ++b) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(word[b]));
          auto it = m_vocab.find(name);
          if (it == m_vocab.end()) all = false;
          else bytes.push_back({it->second, name});
        }
        if (all) {
          out.insert(out.end(), bytes.begin(), bytes.end());
          lastUnk = false;
          continue;
        }
      }
      if (m_unk < 0) continue;
      if (!lastUnk) out.push_back({m_unk, m_entries[static_cast<size_t>(m_unk)].piece});  // unknowns fuse
      lastUnk = true;
    }
  }

 private:
  struct Entry {
    std::string piece;
    double score;
  };
  std::map<std::string, int64_t> m_vocab;
  std::vector<Entry> m_entries;
  size_t m_maxBytes = 1;
  double m_unkScore = -10;
  int64_t m_unk = -1;
  bool m_byteFallback = false;
};

/// WordLevel: the whole pre-token is one vocabulary entry, else the unknown token.
class WordLevel : public TokenModel {
 public:
  explicit WordLevel(const Json& j) {
    m_vocab = readVocab(j["vocab"]);
    if (j.has("unk_token")) {
      auto it = m_vocab.find(j["unk_token"].str());
      if (it == m_vocab.end()) j["unk_token"].fail("'" + j["unk_token"].str() + "' is not in the vocabulary");
      m_unk = {it->second, it->first};
    }
  }
  std::string type() const override { return "WordLevel"; }
  const std::map<std::string, int64_t>& vocab() const override { return m_vocab; }
  void tokenize(const std::string& word, std::vector<Token>& out) const override {
    auto it = m_vocab.find(word);
    if (it != m_vocab.end()) out.push_back({it->second, it->first});
    else if (m_unk.id >= 0) out.push_back(m_unk);
  }

 private:
  std::map<std::string, int64_t> m_vocab;
  Token m_unk;
};

using M = TokenModel;
const Register<M> kWordLevel("WordLevel", [](const Json& j, const BuildContext&) -> std::unique_ptr<M> {
  return std::make_unique<WordLevel>(j);
});
const Register<M> kBpe("BPE", [](const Json& j, const BuildContext&) -> std::unique_ptr<M> {
  return std::make_unique<Bpe>(j);
});
const Register<M> kWordPiece("WordPiece", [](const Json& j, const BuildContext&) -> std::unique_ptr<M> {
  return std::make_unique<WordPiece>(j);
});
const Register<M> kUnigram("Unigram", [](const Json& j, const BuildContext&) -> std::unique_ptr<M> {
  return std::make_unique<Unigram>(j);
});

}  // namespace
}  // namespace attnscope::tok
