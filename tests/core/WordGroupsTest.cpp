// Word-level merging of sub-word pieces: byte-level BPE / SentencePiece labels (a word starts with a space),
// WordPiece labels (## continues), punctuation and special tokens as words of their own; sums per word; the
// CLI's attribute --words against the token-level scores of the same run.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "TestSupport.h"
#include "attnscope/Errors.h"
#include "attnscope/WordGroups.h"

using namespace attnscope;
using namespace attnscope::test;

namespace {

TEST(WordGroups, SpaceMarkedPiecesPunctuationAndSpecials) {
  const WordGroups g = wordGroups({"<s>", " Once", " a", " g", "ir", "l", " named", "Lily", ".", "s"});
  EXPECT_EQ(g.labels, (std::vector<std::string>{"<s>", " Once", " a", " girl", " namedLily", ".", "s"}));
  EXPECT_EQ(g.wordOf, (std::vector<int>{0, 1, 2, 3, 3, 3, 4, 4, 5, 6}));
  EXPECT_EQ(g.first, (std::vector<int>{0, 1, 2, 3, 6, 8, 9}));
  const std::vector<double> sums = sumByWord(g, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EXPECT_EQ(sums, (std::vector<double>{1, 2, 3, 15, 15, 9, 10}));
  EXPECT_THROW(sumByWord(g, {1, 2}), InputError);
}

TEST(WordGroups, WordPiece) {
  const WordGroups g = wordGroups({"[CLS]", "attn", "##scope", "shows", "heads", "##!", "[SEP]"});
  EXPECT_EQ(g.labels, (std::vector<std::string>{"[CLS]", "attnscope", "shows", "heads!", "[SEP]"}));
  EXPECT_EQ(g.wordOf, (std::vector<int>{0, 1, 1, 2, 3, 3, 4}));
}

TEST(WordGroups, AttentionSumsOverKeyPiecesAndAveragesOverQueryPieces) {
  // Positions: "<s>" " g" "ir" "l" " ran" -> words <s>, " girl", " ran".
  const WordGroups g = wordGroups({"<s>", " g", "ir", "l", " ran"});
  ASSERT_EQ(g.labels.size(), 3u);
  // A causal 5 x 5 attention, rows summing to 1, worked by hand below.
  const std::vector<float> a = {1.0f, 0,    0,    0,    0,     //
                                0.5f, 0.5f, 0,    0,    0,     //
                                0.2f, 0.3f, 0.5f, 0,    0,     //
                                0.1f, 0.2f, 0.3f, 0.4f, 0,     //
                                0.4f, 0.1f, 0.1f, 0.1f, 0.3f};
  const std::vector<float> w = attentionByWords(a.data(), 5, 5, g, g);
  ASSERT_EQ(w.size(), 9u);
  // Row " girl" = mean of rows 1-3; its " girl" column = their sums over keys 1-3: (0.5 + 0.8 + 0.9) / 3.
  EXPECT_NEAR(w[3 + 0], (0.5 + 0.2 + 0.1) / 3, 1e-6);
  EXPECT_NEAR(w[3 + 1], (0.5 + 0.8 + 0.9) / 3, 1e-6);
  EXPECT_NEAR(w[3 + 2], 0.0, 1e-6);
  // Row " ran" (one piece): keys summed per word.
  EXPECT_NEAR(w[6 + 0], 0.4, 1e-6);
  EXPECT_NEAR(w[6 + 1], 0.3, 1e-6);
  EXPECT_NEAR(w[6 + 2], 0.3, 1e-6);
  for (int r = 0; r < 3; ++r) EXPECT_NEAR(w[r * 3] + w[r * 3 + 1] + w[r * 3 + 2], 1.0, 1e-6) << r;
  EXPECT_THROW(attentionByWords(a.data(), 4, 5, g, g), InputError);
}

TEST(WordGroups, CliAttributeWordsSumsTheTokenScores) {
  TempDir tmp;
  const std::string base = std::string(ATTNSCOPE_CLI_PATH) + " attribute --method rollout --model " +
                           realModel("stories260K") +
                           " --text 'Once upon a time, there was a little girl named' --out ";
  ASSERT_EQ(runCommand(base + tmp.file("tokens.json")).status, 0);
  const CommandResult r = runCommand(base + tmp.file("words.json") + " --words");
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream ft(tmp.file("tokens.json")), fw(tmp.file("words.json"));
  const nlohmann::json tokens = nlohmann::json::parse(ft), words = nlohmann::json::parse(fw);
  ASSERT_EQ(words["words"], true);
  ASSERT_LT(words["scores"].size(), tokens["scores"].size());
  double girl = 0;
  for (const auto& s : tokens["scores"]) {
    const std::string t = s["token"];
    if (t == " g" || t == "ir" || t == "l") girl += s["value"].get<double>();
  }
  bool found = false;
  double total = 0;
  for (const auto& w : words["scores"]) {
    total += w["value"].get<double>();
    if (w["token"] == " girl") {
      found = true;
      EXPECT_NEAR(w["value"].get<double>(), girl, 1e-12);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_NEAR(total, 1.0, 1e-5);
  EXPECT_EQ(words["word"], words["scores"].size() - 1);  // the scored last position is the last word
  const CommandResult bad =
      runCommand(std::string(ATTNSCOPE_CLI_PATH) + " attribute --method dla --words --model " +
                 realModel("stories260K") + " --text 'Once' --out " + tmp.file("x.json"));
  EXPECT_EQ(bad.status, 2) << bad.output;
}

}  // namespace
