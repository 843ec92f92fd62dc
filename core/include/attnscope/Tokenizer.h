#pragma once
/// \file Tokenizer.h
/// Tokenizers read from a Hugging Face model folder: tokenizer.json (any pipeline of the `tokenizers` components),
/// a SentencePiece tokenizer.model, or the legacy files (vocab.txt for WordPiece; vocab.json + merges.txt for GPT-2
/// and RoBERTa).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attnscope {

/// Output of encoding: ids, segment (token type) ids and the vocabulary pieces.
struct Encoding {
  std::vector<int64_t> ids;
  std::vector<int64_t> typeIds;
  std::vector<std::string> pieces;  ///< raw vocabulary strings ("Ġthe", "▁Once", "##s", "<0x0A>")
};

/// Common interface of all tokenizers.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// One element of a post-processing template: a special token or sequence A (0) / B (1).
  struct TemplatePart {
    bool isSequence = false;
    int sequence = 0;
    int64_t id = -1;
    int64_t typeId = 0;
  };

  /// Loads the tokenizer of model folder \p dir. Returns nullptr when the folder has no tokenizer files;
  /// throws TokenizerError when they exist but are malformed.
  static std::unique_ptr<Tokenizer> load(const std::string& dir);

  /// "wordpiece", "byte-level-bpe", "bpe-byte-fallback", "bpe", "unigram" or "sentencepiece".
  virtual std::string kind() const = 0;
  /// Tokens of \p text without special tokens (throws InputError on invalid UTF-8).
  virtual Encoding tokenize(const std::string& text) const = 0;
  /// Model input for one text, with the special tokens the model expects ([CLS]..[SEP], <s>).
  virtual Encoding encode(const std::string& text) const;
  /// Model input for a sentence pair. Throws InputError when the model has no pair template.
  virtual Encoding encodePair(const std::string& first, const std::string& second) const;
  /// Text of \p ids (special tokens skipped when \p skipSpecial).
  virtual std::string decode(const std::vector<int64_t>& ids, bool skipSpecial = true) const = 0;
  /// Human-readable label of one token: " the" for "Ġthe", "\n" shown as "⏎", byte pieces as "<0xE2>".
  virtual std::string displayLabel(int64_t id) const = 0;

  /// Vocabulary string of \p id ("" when out of range).
  std::string piece(int64_t id) const;
  /// Id of vocabulary string \p piece, if present.
  std::optional<int64_t> idOf(const std::string& piece) const;
  int64_t vocabSize() const { return static_cast<int64_t>(m_pieces.size()); }
  bool isSpecial(int64_t id) const { return m_special.count(id) != 0; }
  std::optional<int64_t> bosId() const { return m_bos; }
  std::optional<int64_t> eosId() const { return m_eos; }

 protected:
  /// Ids may exceed the number of entries by this much (added tokens past the base vocabulary); beyond it a file
  /// is refused as damaged.
  static constexpr int64_t kIdSlack = int64_t(1) << 16;
  /// Throws TokenizerError when an id is negative or beyond the entries + kIdSlack.
  void setVocab(const std::map<std::string, int64_t>& vocab);
  /// Joins encodings with the single (b == nullptr) or pair template.
  Encoding applyTemplate(const Encoding& a, const Encoding* b) const;
  std::vector<TemplatePart> m_single, m_pair;
  void addSpecial(const std::string& content, int64_t id);

  std::vector<std::string> m_pieces;
  std::map<std::string, int64_t> m_ids;
  std::map<int64_t, std::string> m_special;  ///< special/added tokens split out of text
  std::optional<int64_t> m_bos, m_eos;
};

}  // namespace attnscope
