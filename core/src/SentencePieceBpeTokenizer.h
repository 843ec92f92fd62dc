#pragma once
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "attnscope/Tokenizer.h"

namespace attnscope {

/// SentencePiece-style BPE from tokenizer.json (Llama): spaces become "▁", a
/// "▁" is prepended, merges apply by rank, and pieces missing from the
/// vocabulary fall back to <0xXX> byte tokens.
class SentencePieceBpeTokenizer : public Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> fromTokenizerJson(const nlohmann::json& j, const nlohmann::json& config,
                                                      const std::string& path);

  std::string kind() const override { return "bpe-byte-fallback"; }
  Encoding tokenize(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skipSpecial) const override;
  std::string displayLabel(int64_t id) const override;

 private:
  void appendWord(const std::string& word, Encoding& out) const;
  std::string pieceBytes(int64_t id) const;

  std::unordered_map<std::string, int> m_ranks;  ///< "a b" -> rank
  bool m_byteFallback = true;
  bool m_prepend = true;     ///< prepend "▁" to non-empty text
  bool m_splitWords = false; ///< Metaspace split=true: each ▁word is its own BPE word
  int64_t m_unk = -1;
};

}  // namespace attnscope
