// Tokenizers against the golden fixtures (golden/tokenizers/*.json), token for token.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Errors.h"
#include "attnscope/Tokenizer.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

nlohmann::json fixture(const std::string& name) {
  std::ifstream f(golden("tokenizers/" + name));
  return nlohmann::json::parse(f);
}

std::vector<int64_t> ids(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

void checkWordPiece(const Tokenizer& tok) {
  const auto fx = fixture("bert-uncased.json");
  ASSERT_GT(fx["items"].size(), 20u);
  for (const auto& item : fx["items"]) {
    const std::string text = item["text"];
    const Encoding plain = tok.tokenize(text);
    EXPECT_EQ(plain.pieces, item["tokens"].get<std::vector<std::string>>()) << text;
    EXPECT_EQ(plain.ids, ids(item["ids"])) << text;
    EXPECT_EQ(tok.encode(text).ids, ids(item["ids_with_special_tokens"])) << text;
  }
}

TEST(WordPiece, MatchesFixtureFromTokenizerJson) {
  auto tok = Tokenizer::load(golden("bert-tiny-random"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), "wordpiece");
  checkWordPiece(*tok);
}

TEST(WordPiece, MatchesFixtureFromLegacyVocabTxt) {
  TempDir tmp;
  fs::copy_file(golden("bert-tiny-random/vocab.txt"), tmp.file("vocab.txt"));
  fs::copy_file(golden("bert-tiny-random/tokenizer_config.json"), tmp.file("tokenizer_config.json"));
  auto tok = Tokenizer::load(tmp.path());
  ASSERT_TRUE(tok);
  checkWordPiece(*tok);
}

TEST(WordPiece, SentencePairGetsSegmentIds) {
  auto tok = Tokenizer::load(golden("bert-tiny-random"));
  const Encoding e = tok->encodePair("hello world", "good bye");
  EXPECT_EQ(e.ids, (std::vector<int64_t>{101, 7592, 2088, 102, 2204, 9061, 102}));
  EXPECT_EQ(e.typeIds, (std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(tok->displayLabel(101), "[CLS]");
}

TEST(ByteLevelBpe, MatchesFixture) {
  auto tok = Tokenizer::load(golden("gpt2-tiny-random"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), "byte-level-bpe");
  const auto fx = fixture("gpt2.json");
  ASSERT_GT(fx["items"].size(), 20u);
  for (const auto& item : fx["items"]) {
    const std::string text = item["text"];
    const Encoding e = tok->encode(text);
    EXPECT_EQ(e.pieces, item["tokens"].get<std::vector<std::string>>()) << text;
    EXPECT_EQ(e.ids, ids(item["ids"])) << text;
    EXPECT_EQ(tok->decode(e.ids), item["decoded"].get<std::string>()) << text;
  }
}

TEST(ByteLevelBpe, DisplayLabelsAreDecodedPieces) {
  auto tok = Tokenizer::load(golden("gpt2-tiny-random"));
  EXPECT_EQ(tok->displayLabel(995), " world");  // Ġworld
  EXPECT_EQ(tok->displayLabel(198), "\\n");     // Ċ
  EXPECT_EQ(tok->displayLabel(8582), "<0xF0><0x9F>");  // ðŁ: first two bytes of an emoji
  EXPECT_EQ(tok->displayLabel(32485), " \xF0\x9F\x99\x82");  // ĠðŁĻĤ = " 🙂"
}

TEST(SentencePieceBpe, MatchesFixture) {
  auto tok = Tokenizer::load(golden("llama-stories260k"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), "bpe-byte-fallback");
  const auto fx = fixture("llama-stories260k.json");
  ASSERT_GE(fx["items"].size(), 10u);
  for (const auto& item : fx["items"]) {
    const std::string text = item["text"];
    const Encoding e = tok->encode(text);
    EXPECT_EQ(e.pieces, item["pieces"].get<std::vector<std::string>>()) << text;
    EXPECT_EQ(e.ids, ids(item["ids"])) << text;
    EXPECT_EQ(tok->decode(e.ids), item["decoded"].get<std::string>()) << text;
  }
}

TEST(SentencePieceBpe, DisplayLabels) {
  auto tok = Tokenizer::load(golden("llama-stories260k"));
  EXPECT_EQ(tok->displayLabel(403), " Once");
  EXPECT_EQ(tok->displayLabel(1), "<s>");
  EXPECT_EQ(tok->displayLabel(198), "<0xC3>");
}

TEST(Tokenizers, InvalidUtf8IsAnInputError) {
  for (const char* model : {"bert-tiny-random", "gpt2-tiny-random", "llama-stories260k"}) {
    auto tok = Tokenizer::load(golden(model));
    EXPECT_THROW(tok->encode("bad \xC3\x28 byte"), InputError) << model;
    EXPECT_THROW(tok->encode("\xFF"), InputError) << model;
  }
}

TEST(Tokenizers, MalformedTokenizerJsonIsATokenizerError) {
  TempDir tmp;
  std::ofstream(tmp.file("tokenizer.json")) << "{ \"model\": { \"type\": \"BPE\", ";
  EXPECT_THROW(Tokenizer::load(tmp.path()), TokenizerError);
  std::ofstream(tmp.file("tokenizer.json"), std::ios::trunc) << R"({"model": {"type": "Unigram"}})";
  EXPECT_THROW(Tokenizer::load(tmp.path()), TokenizerError);
}

}  // namespace
