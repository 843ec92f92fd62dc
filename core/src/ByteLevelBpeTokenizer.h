#pragma once
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "attnscope/Tokenizer.h"

namespace attnscope {

/// GPT-2 byte-level BPE: the GPT-2 pre-tokenization pattern, the byte<->unicode
/// map, and merges applied by rank.
class ByteLevelBpeTokenizer : public Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> fromTokenizerJson(const nlohmann::json& j, const nlohmann::json& config,
                                                      const std::string& path);
  static std::unique_ptr<Tokenizer> fromVocabMerges(const std::string& vocabPath, const std::string& mergesPath,
                                                    const nlohmann::json& config);

  std::string kind() const override { return "byte-level-bpe"; }
  Encoding tokenize(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skipSpecial) const override;
  std::string displayLabel(int64_t id) const override;

  /// Splits text as GPT-2's regex does:
  /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  static std::vector<std::u32string> preTokenize(const std::u32string& text);

 private:
  ByteLevelBpeTokenizer();
  void addMerge(const std::string& a, const std::string& b, int rank);
  void finishSetup(const nlohmann::json& config, bool addPrefixSpaceDefault);
  std::vector<std::string> bpe(const std::string& word) const;
  std::string pieceBytes(const std::string& piece) const;

  std::string m_byteToUnicode[256];
  std::unordered_map<char32_t, uint8_t> m_unicodeToByte;
  std::unordered_map<std::string, int> m_ranks;  ///< "a b" -> rank
  bool m_addPrefixSpace = false;
};

}  // namespace attnscope
