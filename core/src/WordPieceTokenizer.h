#pragma once
#include <nlohmann/json.hpp>

#include "attnscope/Tokenizer.h"

namespace attnscope {

/// BERT WordPiece with HF BasicTokenizer semantics (clean text, CJK isolation,
/// lower-casing + accent stripping, punctuation splitting, 100-char word limit).
class WordPieceTokenizer : public Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> fromTokenizerJson(const nlohmann::json& j, const nlohmann::json& config,
                                                      const std::string& path);
  static std::unique_ptr<Tokenizer> fromVocabTxt(const std::string& path, const nlohmann::json& config);

  std::string kind() const override { return "wordpiece"; }
  Encoding tokenize(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skipSpecial) const override;
  std::string displayLabel(int64_t id) const override;

 private:
  void finishSetup(const nlohmann::json& config);
  std::vector<std::u32string> basicTokenize(const std::u32string& text) const;
  void wordPiece(const std::u32string& word, Encoding& out) const;

  bool m_lowercase = true;
  bool m_stripAccents = true;
  bool m_chineseChars = true;
  std::string m_prefix = "##";
  std::string m_unk = "[UNK]";
  size_t m_maxChars = 100;
};

}  // namespace attnscope
