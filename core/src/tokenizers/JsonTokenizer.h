#pragma once
// A tokenizer assembled from a tokenizer.json (Hugging Face `tokenizers`): added tokens, normalizer,
// pre-tokenizer, model, post-processor and decoder, each built from the registered components. The legacy files
// (vocab.txt; vocab.json + merges.txt) are described as the tokenizer.json HF would convert them to and run the same
// way. Internal to core.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "TokenizerParts.h"
#include "attnscope/Tokenizer.h"

namespace attnscope {

class JsonTokenizer : public Tokenizer {
 public:
  /// Builds from a parsed tokenizer.json \p j (\p file names it in errors) and tokenizer_config.json \p config.
  /// Throws TokenizerError naming the file and key path of anything malformed or unsupported.
  static std::unique_ptr<Tokenizer> fromJson(const nlohmann::json& j, const nlohmann::json& config,
                                             const std::string& file);
  /// BERT's vocab.txt (one piece per line), as BertTokenizerFast converts it.
  static std::unique_ptr<Tokenizer> fromVocabTxt(const std::string& path, const nlohmann::json& config);
  /// A CTC character vocabulary (vocab.json of Wav2Vec2CTCTokenizer): one token per character, spaces as the word
  /// delimiter ("|"), the pad token as the CTC blank.
  static std::unique_ptr<Tokenizer> fromCtcVocab(const std::string& vocabPath, const nlohmann::json& config);
  /// GPT-2 / RoBERTa vocab.json + merges.txt, as GPT2TokenizerFast converts them.
  static std::unique_ptr<Tokenizer> fromVocabMerges(const std::string& vocabPath, const std::string& mergesPath,
                                                    const nlohmann::json& config);

  std::string kind() const override { return m_kind; }
  Encoding tokenize(const std::string& text) const override;
  Encoding encode(const std::string& text) const override;
  Encoding encodePair(const std::string& first, const std::string& second) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skipSpecial = true) const override;
  std::string displayLabel(int64_t id) const override;

 private:
  struct Added {
    std::string content;
    int64_t id = -1;
    bool singleWord = false, lstrip = false, rstrip = false, normalized = false, special = false;
  };
  /// Splits \p text at the added tokens with normalized == \p normalizedSet; plain segments get id -1.
  struct Segment {
    std::string text;
    int64_t id = -1;
    size_t offset = 0;
  };
  std::vector<Segment> splitAdded(const std::string& text, bool normalizedSet) const;
  void modelTokens(const std::string& segment, bool atStart, Encoding& out) const;

  enum class LabelStyle { Plain, ByteLevel, Metaspace };
  std::string m_kind;
  LabelStyle m_labels = LabelStyle::Plain;
  std::vector<Added> m_added;
  std::unique_ptr<tok::Normalizer> m_normalizer;
  std::unique_ptr<tok::PreTokenizer> m_preTokenizer;
  std::unique_ptr<tok::TokenModel> m_model;
  std::unique_ptr<tok::PostProcessor> m_post;
  std::unique_ptr<tok::Decoder> m_decoder;
};

}  // namespace attnscope
