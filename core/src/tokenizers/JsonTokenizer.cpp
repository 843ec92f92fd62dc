#include "JsonTokenizer.h"

#include <algorithm>
#include <fstream>

#include "base/Unicode.h"
#include "attnscope/Errors.h"

namespace attnscope {

namespace {

bool isWordChar(char32_t c) { return tok::isAlnum(c) || c == '_'; }

/// The string of a tokenizer_config.json token entry ("<s>" or {"content": "<s>"}); "" when absent.
std::string configToken(const nlohmann::json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return "";
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

/// tokenizer.json files written before "type" was stored in the model object: infer it as HF's untagged
/// deserialisation does.
nlohmann::json withModelType(nlohmann::json model) {
  if (!model.is_object() || model.contains("type")) return model;
  if (model.contains("merges")) model["type"] = "BPE";
  else if (model.contains("vocab") && model["vocab"].is_array()) model["type"] = "Unigram";
  else model["type"] = "WordPiece";
  return model;
}

}  // namespace

std::unique_ptr<Tokenizer> JsonTokenizer::fromJson(const nlohmann::json& j, const nlohmann::json& config,
                                                   const std::string& file) {
  auto t = std::unique_ptr<JsonTokenizer>(new JsonTokenizer());
  const tok::Json root(j, file);
  if (!root.isObject()) root.fail("expected an object");
  const nlohmann::json model = withModelType(root["model"].raw());
  tok::BuildContext ctx;
  ctx.idOf = [tp = t.get()](const std::string& s) -> int64_t {
    auto id = tp->idOf(s);
    return id ? *id : -1;
  };
  t->m_model = tok::build<tok::TokenModel>(tok::Json(model, file, "model"), ctx, "model");
  t->setVocab(t->m_model->vocab());

  // Added tokens: ids checked before the piece table grows for them.
  if (root.has("added_tokens"))
    for (const tok::Json& a : root["added_tokens"].elements()) {
      Added added;
      added.id = a["id"].integer(0, static_cast<int64_t>(t->m_pieces.size()) + kIdSlack - 1);
      added.content = a["content"].str();
      if (added.content.empty()) a["content"].fail("an added token must not be empty");
      added.singleWord = a.boolean("single_word", false);
      added.lstrip = a.boolean("lstrip", false);
      added.rstrip = a.boolean("rstrip", false);
      added.normalized = a.boolean("normalized", !a.boolean("special", false));
      added.special = a.boolean("special", false);
      if (added.id >= static_cast<int64_t>(t->m_pieces.size())) t->m_pieces.resize(static_cast<size_t>(added.id) + 1);
      t->m_pieces[static_cast<size_t>(added.id)] = added.content;
      t->m_ids[added.content] = added.id;
      if (added.special) t->m_special[added.id] = added.content;
      t->m_added.push_back(added);
    }
  // Longest first, so that the first match at a position is the longest (leftmost-longest, as HF matches).
  std::stable_sort(t->m_added.begin(), t->m_added.end(),
                   [](const Added& a, const Added& b) { return a.content.size() > b.content.size(); });

  t->m_normalizer = tok::build<tok::Normalizer>(root.opt("normalizer"), ctx, "normalizer");
  t->m_preTokenizer = tok::build<tok::PreTokenizer>(root.opt("pre_tokenizer"), ctx, "pre-tokenizer");
  t->m_post = tok::build<tok::PostProcessor>(root.opt("post_processor"), ctx, "post-processor");
  t->m_decoder = tok::build<tok::Decoder>(root.opt("decoder"), ctx, "decoder");

  for (const char* key : {"bos_token", "eos_token"}) {
    const std::string s = configToken(config, key);
    if (auto id = t->idOf(s)) (std::string(key) == "bos_token" ? t->m_bos : t->m_eos) = *id;
  }
  if (!t->m_eos)
    if (auto id = t->idOf("<|endoftext|>")) t->m_eos = *id;
  // No post-processor: tokenizer_config.json's add_bos_token / add_eos_token say what the model expects.
  if (!t->m_post && config.is_object()) {
    const bool bos = config.value("add_bos_token", false) && t->m_bos, eos = config.value("add_eos_token", false) && t->m_eos;
    if (bos || eos) {
      nlohmann::json single = nlohmann::json::array(), pair = nlohmann::json::array();
      auto special = [&](int64_t id, int type) {
        return nlohmann::json{{"SpecialToken", {{"id", t->piece(id)}, {"type_id", type}}}};
      };
      auto seq = [](const char* s, int type) { return nlohmann::json{{"Sequence", {{"id", s}, {"type_id", type}}}}; };
      if (bos) single.push_back(special(*t->m_bos, 0));
      single.push_back(seq("A", 0));
      if (eos) single.push_back(special(*t->m_eos, 0));
      pair = single;
      if (bos) pair.push_back(special(*t->m_bos, 1));
      pair.push_back(seq("B", 1));
      if (eos) pair.push_back(special(*t->m_eos, 1));
      const nlohmann::json tmpl = {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}};
      t->m_post = tok::build<tok::PostProcessor>(tok::Json(tmpl, file, "post_processor"), ctx, "post-processor");
    }
  }

  const std::string decoder = root.opt("decoder").isNull() ? "" : root["decoder"].raw().dump();
  const std::string pre = root.opt("pre_tokenizer").isNull() ? "" : root["pre_tokenizer"].raw().dump();
  const bool byteLevel = decoder.find("\"ByteLevel\"") != std::string::npos || pre.find("\"ByteLevel\"") != std::string::npos;
  const std::string type = t->m_model->type();
  if (type == "WordPiece") t->m_kind = "wordpiece";
  else if (type == "Unigram") t->m_kind = "unigram";
  else if (t->m_model->byteFallback()) t->m_kind = "bpe-byte-fallback";
  else if (byteLevel) t->m_kind = "byte-level-bpe";
  else t->m_kind = "bpe";
  if (byteLevel) t->m_labels = LabelStyle::ByteLevel;
  else if (type != "WordPiece") t->m_labels = LabelStyle::Metaspace;
  return t;
}

std::unique_ptr<Tokenizer> JsonTokenizer::fromVocabTxt(const std::string& path, const nlohmann::json& config) {
  std::ifstream f(path);
  if (!f) throw TokenizerError("cannot read '" + path + "'");
  nlohmann::json vocab = nlohmann::json::object();
  std::string line;
  int64_t index = 0;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    vocab[line] = index++;
  }
  if (index == 0) throw TokenizerError("'" + path + "' is empty");
  auto name = [&](const char* key, const char* fallback) {
    const std::string s = configToken(config, key);
    return s.empty() ? std::string(fallback) : s;
  };
  const std::string unk = name("unk_token", "[UNK]"), cls = name("cls_token", "[CLS]"), sep = name("sep_token", "[SEP]");
  nlohmann::json added = nlohmann::json::array();
  for (const std::string& s : {name("pad_token", "[PAD]"), unk, cls, sep, name("mask_token", "[MASK]")})
    if (vocab.contains(s))
      added.push_back({{"id", vocab[s]}, {"content", s}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", true}});
  const bool lower = config.is_object() ? config.value("do_lower_case", true) : true;
  nlohmann::json normalizer = {{"type", "BertNormalizer"},
                               {"clean_text", true},
                               {"handle_chinese_chars", config.is_object() ? config.value("tokenize_chinese_chars", true) : true},
                               {"strip_accents", config.is_object() && config.contains("strip_accents") ? config["strip_accents"] : nullptr},
                               {"lowercase", lower}};
  nlohmann::json j = {
      {"added_tokens", added},
      {"normalizer", normalizer},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", unk}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 100}, {"vocab", vocab}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}}};
  if (vocab.contains(cls) && vocab.contains(sep))
    j["post_processor"] = {{"type", "BertProcessing"}, {"cls", {cls, vocab[cls]}}, {"sep", {sep, vocab[sep]}}};
  return fromJson(j, config, path);
}

std::unique_ptr<Tokenizer> JsonTokenizer::fromVocabMerges(const std::string& vocabPath, const std::string& mergesPath,
                                                          const nlohmann::json& config) {
  nlohmann::json vocab;
  {
    std::ifstream f(vocabPath);
    if (!f) throw TokenizerError("cannot read '" + vocabPath + "'");
    try {
      vocab = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
      throw TokenizerError("'" + vocabPath + "' is not valid JSON: " + e.what());
    }
  }
  if (!vocab.is_object()) throw TokenizerError("'" + vocabPath + "' must map token strings to ids");
  nlohmann::json merges = nlohmann::json::array();
  std::ifstream m(mergesPath);
  if (!m) throw TokenizerError("cannot read '" + mergesPath + "'");
  std::string line;
  while (std::getline(m, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    merges.push_back(line);
  }
  const bool prefix = config.is_object() ? config.value("add_prefix_space", false) : false;
  nlohmann::json added = nlohmann::json::array();
  std::vector<std::string> specials;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"})
    specials.push_back(configToken(config, key));
  specials.push_back("<|endoftext|>");
  for (const auto& s : specials)
    if (!s.empty() && vocab.contains(s) && vocab[s].is_number_integer() &&
        std::none_of(added.begin(), added.end(), [&](const nlohmann::json& a) { return a["content"] == s; }))
      added.push_back({{"id", vocab[s]}, {"content", s}, {"single_word", false}, {"lstrip", s == "<mask>"},
                       {"rstrip", false}, {"normalized", false}, {"special", true}});
  nlohmann::json j = {{"added_tokens", added},
                      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", prefix}, {"use_regex", true}}},
                      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
                      {"decoder", {{"type", "ByteLevel"}}}};
  const std::string cls = config.is_object() ? config.value("tokenizer_class", std::string()) : std::string();
  if (cls.rfind("Roberta", 0) == 0 || cls.rfind("Bart", 0) == 0) {
    const std::string bos = configToken(config, "bos_token").empty() ? "<s>" : configToken(config, "bos_token");
    const std::string eos = configToken(config, "eos_token").empty() ? "</s>" : configToken(config, "eos_token");
    if (vocab.contains(bos) && vocab.contains(eos))
      j["post_processor"] = {{"type", "RobertaProcessing"}, {"cls", {bos, vocab[bos]}}, {"sep", {eos, vocab[eos]}}};
  }
  return fromJson(j, config, vocabPath);
}

std::unique_ptr<Tokenizer> JsonTokenizer::fromCtcVocab(const std::string& vocabPath, const nlohmann::json& config) {
  nlohmann::json vocab;
  {
    std::ifstream f(vocabPath);
    if (!f) throw TokenizerError("cannot read '" + vocabPath + "'");
    try {
      vocab = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
      throw TokenizerError("'" + vocabPath + "' is not valid JSON: " + e.what());
    }
  }
  if (!vocab.is_object()) throw TokenizerError("'" + vocabPath + "' must map characters to ids");
  const std::string delimiter = configToken(config, "word_delimiter_token").empty()
                                    ? "|"
                                    : configToken(config, "word_delimiter_token");
  nlohmann::json added = nlohmann::json::array();
  for (const char* key : {"pad_token", "bos_token", "eos_token", "unk_token"}) {
    const std::string s = configToken(config, key);
    if (!s.empty() && vocab.contains(s) && vocab[s].is_number_integer())
      added.push_back({{"id", vocab[s]}, {"content", s}, {"normalized", false}, {"special", true}});
  }
  const std::string unk = configToken(config, "unk_token");
  nlohmann::json j = {
      {"added_tokens", added},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", delimiter}}},
      {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "\\X"}}}, {"behavior", "Isolated"}}},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", vocab.contains(unk) ? nlohmann::json(unk) : nullptr}}},
      {"decoder", {{"type", "Replace"}, {"pattern", {{"String", delimiter}}}, {"content", " "}}}};
  auto t = fromJson(j, config, vocabPath);
  static_cast<JsonTokenizer*>(t.get())->m_kind = "ctc";
  return t;
}

std::vector<JsonTokenizer::Segment> JsonTokenizer::splitAdded(const std::string& text, bool normalizedSet) const {
  std::vector<Segment> out;
  size_t plainStart = 0, i = 0;
  auto emitPlain = [&](size_t end) {
    if (end > plainStart) out.push_back({text.substr(plainStart, end - plainStart), -1, plainStart});
  };
  while (i < text.size()) {
    const Added* found = nullptr;
    for (const Added& a : m_added) {
      if (a.normalized != normalizedSet || text.compare(i, a.content.size(), a.content) != 0) continue;
      if (a.singleWord) {
        const std::u32string before = tok::codepoints(text.substr(0, i));
        const std::u32string after = tok::codepoints(text.substr(i + a.content.size(), 4));
        if ((!before.empty() && isWordChar(before.back())) || (!after.empty() && isWordChar(after.front()))) continue;
      }
      found = &a;
      break;
    }
    if (!found) {
      ++i;
      while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
      continue;
    }
    size_t start = i, end = i + found->content.size();
    if (found->lstrip)
      while (start > plainStart && (text[start - 1] == ' ' || text[start - 1] == '\t' || text[start - 1] == '\n' ||
                                    text[start - 1] == '\r'))
        --start;
    if (found->rstrip)
      while (end < text.size() && (text[end] == ' ' || text[end] == '\t' || text[end] == '\n' || text[end] == '\r'))
        ++end;
    emitPlain(start);
    out.push_back({found->content, found->id, start});
    plainStart = i = end;
  }
  emitPlain(text.size());
  return out;
}

void JsonTokenizer::modelTokens(const std::string& segment, bool atStart, Encoding& out) const {
  std::vector<tok::Piece> pieces{{segment, atStart}};
  if (m_preTokenizer) m_preTokenizer->split(pieces);
  std::vector<tok::Token> tokens;
  for (const tok::Piece& p : pieces)
    if (!p.text.empty()) m_model->tokenize(p.text, tokens);
  for (const tok::Token& t : tokens) {
    out.ids.push_back(t.id);
    out.pieces.push_back(t.piece);
  }
}

Encoding JsonTokenizer::tokenize(const std::string& text) const {
  size_t bad = 0;
  if (!unicode::isValidUtf8(text, &bad))
    throw InputError("text is not valid UTF-8 (invalid byte sequence at byte " + std::to_string(bad) + ")");
  Encoding out;
  for (const Segment& raw : splitAdded(text, false)) {
    if (raw.id >= 0) {
      out.ids.push_back(raw.id);
      out.pieces.push_back(raw.text);
      continue;
    }
    const std::string normalized = m_normalizer ? m_normalizer->normalize(raw.text) : raw.text;
    for (const Segment& s : splitAdded(normalized, true)) {
      if (s.id >= 0) {
        out.ids.push_back(s.id);
        out.pieces.push_back(s.text);
      } else {
        modelTokens(s.text, raw.offset == 0 && s.offset == 0, out);
      }
    }
  }
  out.typeIds.assign(out.ids.size(), 0);
  return out;
}

Encoding JsonTokenizer::encode(const std::string& text) const {
  const Encoding a = tokenize(text);
  return m_post ? m_post->process(a, nullptr) : a;
}

Encoding JsonTokenizer::encodePair(const std::string& first, const std::string& second) const {
  if (!m_post || !m_post->handlesPairs())
    throw InputError("this model's tokenizer (" + kind() + ") has no sentence-pair template; give a single text");
  const Encoding a = tokenize(first), b = tokenize(second);
  return m_post->process(a, &b);
}

std::string JsonTokenizer::decode(const std::vector<int64_t>& ids, bool skipSpecial) const {
  std::vector<std::string> tokens;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocabSize() || (skipSpecial && isSpecial(id))) continue;
    tokens.push_back(piece(id));
  }
  if (!m_decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  std::string out;
  for (const auto& s : m_decoder->decodeChain(std::move(tokens))) out += s;
  return out;
}

std::string JsonTokenizer::displayLabel(int64_t id) const {
  const std::string p = piece(id);
  if (isSpecial(id) || m_labels == LabelStyle::Plain) return p;
  if (m_labels == LabelStyle::ByteLevel) return tok::displayBytes(tok::byteLevelBytes(p));
  return tok::metaspaceLabel(p);
}

}  // namespace attnscope
