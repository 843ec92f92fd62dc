// The tokenizer.json pipeline: the Qwen tokenizer against its golden fixture, each component's semantics on
// hand-worked examples (HF `tokenizers` documentation), SentencePiece models against Debian's spm_encode, and the
// errors a damaged or unsupported file gives (naming the file, the key path and the component).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Tokenizer.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

nlohmann::json readJson(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

/// A tokenizer from an in-memory tokenizer.json (written to a temporary folder).
std::unique_ptr<Tokenizer> fromJson(const TempDir& tmp, const nlohmann::json& j,
                                    const nlohmann::json& config = nlohmann::json::object()) {
  std::ofstream(tmp.file("tokenizer.json"), std::ios::trunc) << j.dump();
  std::ofstream(tmp.file("tokenizer_config.json"), std::ios::trunc) << config.dump();
  return Tokenizer::load(tmp.path());
}

std::string loadError(const TempDir& tmp, const nlohmann::json& j) {
  try {
    fromJson(tmp, j);
  } catch (const TokenizerError& e) {
    return e.what();
  }
  return "loaded";
}

/// A tiny word-level vocabulary: every piece listed gets the next id.
nlohmann::json wordVocab(const std::vector<std::string>& pieces) {
  nlohmann::json v = nlohmann::json::object();
  for (size_t i = 0; i < pieces.size(); ++i) v[pieces[i]] = i;
  return v;
}

/// WordPiece over \p vocab with the given pre-tokenizer / normalizer: pieces show what the pipeline produced.
nlohmann::json pipeline(const nlohmann::json& vocab, const nlohmann::json& pre, const nlohmann::json& norm = nullptr) {
  return {{"normalizer", norm},
          {"pre_tokenizer", pre},
          {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", vocab}}}};
}

std::vector<std::string> pieces(const Tokenizer& t, const std::string& text) { return t.tokenize(text).pieces; }

TEST(QwenTokenizer, MatchesTheGoldenFixtureTokenForToken) {
  auto tok = Tokenizer::load(golden("qwen2-tiny-random"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), "byte-level-bpe");
  const auto fx = readJson(golden("tokenizers/qwen.json"));
  ASSERT_GE(fx["items"].size(), 27u);
  for (const auto& item : fx["items"]) {
    const std::string text = item["text"];
    const Encoding e = tok->encode(text);
    EXPECT_EQ(e.pieces, item["tokens"].get<std::vector<std::string>>()) << text;
    EXPECT_EQ(e.ids, item["ids"].get<std::vector<int64_t>>()) << text;
    EXPECT_EQ(tok->decode(e.ids, false), item["decoded"].get<std::string>()) << text;
  }
  // Labels: byte-level pieces shown as text; an added token as itself.
  EXPECT_EQ(tok->displayLabel(1879), " world");
  EXPECT_EQ(tok->displayLabel(151644), "<|im_start|>");
}

TEST(TokenizerComponents, SplitBehaviorsAndInvert) {
  TempDir tmp;
  const auto vocab = wordVocab({"[UNK]", "a", "-", "a-", "-a", "--", "b", "-b"});
  auto run = [&](const char* behavior, bool invert = false) {
    const nlohmann::json pre = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
    return pieces(*fromJson(tmp, pipeline(vocab, pre)), "a--b");
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(run("Removed"), (V{"a", "b"}));
  EXPECT_EQ(run("Isolated"), (V{"a", "-", "-", "b"}));
  EXPECT_EQ(run("MergedWithPrevious"), (V{"a-", "-", "b"}));
  EXPECT_EQ(run("MergedWithNext"), (V{"a", "-", "-b"}));
  EXPECT_EQ(run("Contiguous"), (V{"a", "--", "b"}));
  EXPECT_EQ(run("Removed", true), (V{"-", "-"})) << "inverted: the letters are the delimiters";
}

TEST(TokenizerComponents, RegexSplitDigitsPunctuationAndWhitespace) {
  TempDir tmp;
  const auto vocab = wordVocab({"[UNK]", "x", "1", "2", "12", "!", "?", "!?", "hi", "there"});
  using V = std::vector<std::string>;
  const nlohmann::json regex = {{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(pieces(*fromJson(tmp, pipeline(vocab, regex)), "x12x"), (V{"x", "1", "2", "x"}));
  EXPECT_EQ(pieces(*fromJson(tmp, pipeline(vocab, {{"type", "Digits"}, {"individual_digits", false}})), "x12"),
            (V{"x", "12"}));
  EXPECT_EQ(pieces(*fromJson(tmp, pipeline(vocab, {{"type", "Digits"}, {"individual_digits", true}})), "x12"),
            (V{"x", "1", "2"}));
  EXPECT_EQ(pieces(*fromJson(tmp, pipeline(vocab, {{"type", "Punctuation"}})), "x!?"), (V{"x", "!", "?"}));
  EXPECT_EQ(pieces(*fromJson(tmp, pipeline(vocab, {{"type", "Whitespace"}})), "hi  there!?"),
            (V{"hi", "there", "!?"}));
  EXPECT_EQ(pieces(*fromJson(tmp, pipeline(vocab, {{"type", "WhitespaceSplit"}})), " hi\tthere "),
            (V{"hi", "there"}));
}

TEST(TokenizerComponents, MetaspacePrependSchemes) {
  TempDir tmp;
  const std::string m = "\u2581";
  const auto vocab = wordVocab({"[UNK]", m + "a", m + "b", "a", "b", "<x>"});
  using V = std::vector<std::string>;
  auto with = [&](const char* scheme) {
    nlohmann::json j = pipeline(vocab, {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", scheme}});
    j["added_tokens"] = {{{"id", 5}, {"content", "<x>"}, {"normalized", false}, {"special", true}}};
    return fromJson(tmp, j);
  };
  EXPECT_EQ(pieces(*with("always"), "a b<x>b"), (V{m + "a", m + "b", "<x>", m + "b"}));
  EXPECT_EQ(pieces(*with("first"), "a b<x>b"), (V{m + "a", m + "b", "<x>", "b"})) << "only the input's start";
  EXPECT_EQ(pieces(*with("never"), "a b"), (V{"a", m + "b"}));
}

TEST(TokenizerComponents, NormalizersAndAddedTokenOptions) {
  TempDir tmp;
  const auto vocab = wordVocab({"[UNK]", "cafe", "hello", "<m>", "x", "xx", "[Y]"});
  using V = std::vector<std::string>;
  const nlohmann::json seq = {{"type", "Sequence"},
                              {"normalizers",
                               {{{"type", "NFD"}},
                                {{"type", "StripAccents"}},
                                {{"type", "Lowercase"}},
                                {{"type", "Replace"}, {"pattern", {{"Regex", "l+"}}}, {"content", "ll"}},
                                {{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}}}};
  const nlohmann::json ws = {{"type", "WhitespaceSplit"}};
  EXPECT_EQ(pieces(*fromJson(tmp, pipeline(vocab, ws, seq)), "  CAFE\xCC\x81 HeLo "), (V{"cafe", "hello"}));
  // lstrip swallows the spaces before <m>, rstrip those after; single_word refuses a match inside a word.
  nlohmann::json j = pipeline(vocab, ws);
  j["added_tokens"] = {{{"id", 3}, {"content", "<m>"}, {"lstrip", true}, {"rstrip", true}, {"normalized", false}},
                       {{"id", 6}, {"content", "[Y]"}, {"single_word", true}, {"normalized", false}}};
  auto t = fromJson(tmp, j);
  const Encoding e = t->tokenize("x  <m>  x x[Y] [Y]");
  EXPECT_EQ(e.pieces, (V{"x", "<m>", "x", "[UNK]", "[Y]"})) << "x[Y] is one unknown word; the lone [Y] matches";
}

TEST(TokenizerComponents, BpeOptionsAndDecoders) {
  TempDir tmp;
  // continuing_subword_prefix + end_of_word_suffix, byte_fallback for an unknown character, fuse_unk.
  nlohmann::json vocab = wordVocab({"<unk>", "l", "##o", "##w</w>", "lo", "low</w>", "<0xC3>", "<0xA9>", "e"});
  nlohmann::json j = {{"model",
                       {{"type", "BPE"},
                        {"vocab", vocab},
                        {"merges", {"l ##o", "lo ##w</w>"}},
                        {"continuing_subword_prefix", "##"},
                        {"end_of_word_suffix", "</w>"},
                        {"unk_token", "<unk>"}}},
                      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}}};
  auto t = fromJson(tmp, j);
  EXPECT_EQ(pieces(*t, "low"), (std::vector<std::string>{"low</w>"}));
  j["model"]["byte_fallback"] = true;
  j["model"]["fuse_unk"] = true;
  j["model"]["end_of_word_suffix"] = nullptr;
  j["model"]["continuing_subword_prefix"] = nullptr;
  j["model"]["merges"] = nlohmann::json::array();
  j["decoder"] = {{"type", "Sequence"}, {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
  t = fromJson(tmp, j);
  const Encoding e = t->tokenize("e\xC3\xA9\xE2\x82\xAC\xE2\x82\xAC");  // e, é (bytes known), €€ (unknown)
  EXPECT_EQ(e.pieces, (std::vector<std::string>{"e", "<0xC3>", "<0xA9>", "<unk>"})) << "unknowns fuse";
  EXPECT_EQ(t->decode(e.ids, false), "e\xC3\xA9<unk>");
}

TEST(TokenizerComponents, UnigramViterbiPicksTheBestSegmentation) {
  TempDir tmp;
  const std::string m = "\u2581";
  // "▁ab" alone (-1) beats "▁a" + "b" (-1 - 1); an unknown character costs min score - 10 and fuses.
  const nlohmann::json j = {{"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}}},
                            {"model",
                             {{"type", "Unigram"},
                              {"unk_id", 0},
                              {"vocab", nlohmann::json::array({nlohmann::json::array({"<unk>", 0.0}),
                                                               nlohmann::json::array({m + "a", -1.0}),
                                                               nlohmann::json::array({"b", -1.0}),
                                                               nlohmann::json::array({m + "ab", -1.0}),
                                                               nlohmann::json::array({m, -3.0}),
                                                               nlohmann::json::array({"a", -2.0})})}}}};
  auto t = fromJson(tmp, j);
  EXPECT_EQ(pieces(*t, "ab"), (std::vector<std::string>{m + "ab"}));
  EXPECT_EQ(pieces(*t, "aab"), (std::vector<std::string>{m + "a", "a", "b"}));
  EXPECT_EQ(pieces(*t, "zz"), (std::vector<std::string>{m, "<unk>"}));
}

TEST(TokenizerErrors, UnknownComponentIsNamedAndTheModelStillRunsFromInputs) {
  TempDir tmp;
  for (const auto& e : fs::directory_iterator(golden("qwen2-tiny-random")))
    fs::copy(e.path(), tmp.file(e.path().filename().string()));
  nlohmann::json j = readJson(tmp.file("tokenizer.json"));
  j["pre_tokenizer"]["pretokenizers"][0]["type"] = "Wobbly";
  std::ofstream(tmp.file("tokenizer.json"), std::ios::trunc) << j.dump();
  try {
    Tokenizer::load(tmp.path());
    FAIL() << "an unknown pre-tokenizer must be refused";
  } catch (const TokenizerError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("pre-tokenizer type 'Wobbly' is not supported"), std::string::npos) << what;
    EXPECT_NE(what.find("tokenizer.json: pre_tokenizer.pretokenizers[0]"), std::string::npos) << what;
  }
  // The weights are fine: exact inputs still run (the CLI's --inputs), without the tokenizer.
  const std::string cmd = std::string(ATTNSCOPE_CLI_PATH) + " run --model '" + tmp.path() + "' --inputs '" +
                          golden("qwen2-tiny-random/expected.safetensors") + "' --out '" + tmp.file("cap.safetensors") +
                          "' > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(fs::exists(tmp.file("cap.safetensors")));
}

TEST(TokenizerErrors, RegexThatPcre2RejectsIsNamed) {
  TempDir tmp;
  const nlohmann::json pre = {{"type", "Split"}, {"pattern", {{"Regex", "(\\p{L}+"}}}, {"behavior", "Isolated"}};
  const std::string e = loadError(tmp, pipeline(wordVocab({"[UNK]"}), pre));
  EXPECT_NE(e.find("pre_tokenizer.pattern.Regex: the regular expression is rejected"), std::string::npos) << e;
}

TEST(TokenizerErrors, WrongTypesNameTheKeyPath) {
  TempDir tmp;
  nlohmann::json j = pipeline(wordVocab({"[UNK]", "hello"}), nullptr);
  j["model"]["vocab"]["hello"] = "seven";
  EXPECT_NE(loadError(tmp, j).find("tokenizer.json: model.vocab[\"hello\"]: expected an integer, got a string"),
            std::string::npos)
      << loadError(tmp, j);
  j = pipeline(wordVocab({"[UNK]", "hello"}), nullptr);
  j["model"]["vocab"]["hello"] = int64_t(1) << 40;
  EXPECT_NE(loadError(tmp, j).find("model.vocab[\"hello\"]: 1099511627776 is outside"), std::string::npos)
      << loadError(tmp, j);
  j = pipeline(wordVocab({"[UNK]"}), nullptr);
  j["added_tokens"] = {{{"id", -3}, {"content", "<x>"}}};
  EXPECT_NE(loadError(tmp, j).find("added_tokens[0].id: -3 is outside"), std::string::npos) << loadError(tmp, j);
}

/// Runs a shell command; its standard output.
std::string shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return out;
}

std::vector<int64_t> idsOf(const std::string& line) {
  std::vector<int64_t> out;
  std::istringstream in(line);
  for (int64_t v; in >> v;) out.push_back(v);
  return out;
}

TEST(SentencePieceModel, LegacyTokenizerModelMatchesSpmEncode) {
  // Debian's spm_train makes a small model; spm_encode (the library's own command) is the reference.
  ASSERT_EQ(std::system("command -v spm_train > /dev/null && command -v spm_encode > /dev/null"), 0)
      << "the sentencepiece package (installed by run.sh) is missing";
  TempDir tmp;
  {
    std::ofstream corpus(tmp.file("corpus.txt"));
    const char* words[] = {"once", "upon", "a", "time", "there", "was", "little", "girl", "who", "liked",
                           "to", "play", "in", "the", "park", "with", "her", "dog", "and", "cat"};
    for (int i = 0; i < 400; ++i) {
      for (int k = 0; k < 9; ++k) corpus << words[(i * 7 + k * 3 + k * k) % 20] << (k == 8 ? ".\n" : " ");
    }
  }
  for (const char* type : {"bpe", "unigram"}) {
    const std::string prefix = tmp.file(std::string("m_") + type);
    const std::string train = "spm_train --input=" + tmp.file("corpus.txt") + " --model_prefix=" + prefix +
                              " --vocab_size=300 --hard_vocab_limit=false --model_type=" + type +
                              " --byte_fallback=true --minloglevel=2 > /dev/null 2>&1";
    ASSERT_EQ(std::system(train.c_str()), 0) << type;
    const std::string dir = tmp.file(std::string("model_") + type);
    fs::create_directories(dir);
    fs::copy_file(prefix + ".model", dir + "/tokenizer.model");
    auto tok = Tokenizer::load(dir);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->kind(), "sentencepiece");
    for (const std::string text : {"once upon a time", "the little dog played in the park.", "Zebra quux \xC3\xA9!"}) {
      const std::string ref = shell("printf '%s' '" + text + "' | spm_encode --model=" + prefix +
                                    ".model --output_format=id");
      const std::vector<int64_t> want = idsOf(ref);
      ASSERT_FALSE(want.empty()) << type << ": " << text;
      EXPECT_EQ(tok->tokenize(text).ids, want) << type << ": " << text;
      const Encoding withBos = tok->encode(text);
      EXPECT_EQ(withBos.ids.front(), *tok->bosId()) << "Llama-style models get BOS";
      EXPECT_EQ(tok->decode(withBos.ids), text) << type;
    }
  }
}

TEST(SentencePieceModel, ADamagedModelIsATokenizerError) {
  TempDir tmp;
  std::ofstream(tmp.file("tokenizer.model")) << "not a protobuf at all";
  EXPECT_THROW(Tokenizer::load(tmp.path()), TokenizerError);
}

}  // namespace
