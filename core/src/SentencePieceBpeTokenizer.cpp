#include "SentencePieceBpeTokenizer.h"

#include <climits>

#include "TokenizerUtil.h"
#include "Unicode.h"
#include "attnscope/Errors.h"

namespace attnscope {

namespace {
const std::string kSpace = "\xE2\x96\x81";  // U+2581 ▁

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

int hexByte(const std::string& piece) {  // "<0xAB>" -> 0xAB, else -1
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  try {
    return std::stoi(piece.substr(3, 2), nullptr, 16);
  } catch (...) {
    return -1;
  }
}
}  // namespace

std::unique_ptr<Tokenizer> SentencePieceBpeTokenizer::fromTokenizerJson(const nlohmann::json& j,
                                                                         const nlohmann::json& config,
                                                                         const std::string& path) {
  auto t = std::unique_ptr<SentencePieceBpeTokenizer>(new SentencePieceBpeTokenizer());
  const auto& model = j["model"];
  if (!model.contains("vocab") || !model["vocab"].is_object() || !model.contains("merges"))
    throw TokenizerError("'" + path + "': BPE model needs vocab and merges");
  std::map<std::string, int64_t> vocab;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) vocab[it.key()] = it.value().get<int64_t>();
  t->setVocab(vocab);
  int rank = 0;
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) throw TokenizerError("'" + path + "': malformed merge '" + s + "'");
      t->m_ranks.emplace(s.substr(0, sp) + " " + s.substr(sp + 1), rank++);
    } else if (m.is_array() && m.size() == 2) {
      t->m_ranks.emplace(m[0].get<std::string>() + " " + m[1].get<std::string>(), rank++);
    }
  }
  t->m_byteFallback = model.value("byte_fallback", false);
  if (model.contains("unk_token") && model["unk_token"].is_string())
    if (auto id = t->idOf(model["unk_token"].get<std::string>())) t->m_unk = *id;
  // Normalizer Prepend("▁") + Replace(" ", "▁"), or the Metaspace pre-tokenizer.
  t->m_prepend = false;
  auto scanNormalizer = [&](const nlohmann::json& n) {
    if (n.value("type", "") == "Prepend" && n.value("prepend", "") == kSpace) t->m_prepend = true;
  };
  if (j.contains("normalizer") && j["normalizer"].is_object()) {
    const auto& n = j["normalizer"];
    if (n.value("type", "") == "Sequence" && n.contains("normalizers"))
      for (const auto& sub : n["normalizers"]) scanNormalizer(sub);
    else
      scanNormalizer(n);
  }
  if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object() &&
      j["pre_tokenizer"].value("type", "") == "Metaspace") {
    const auto& p = j["pre_tokenizer"];
    t->m_prepend = p.value("prepend_scheme", p.value("add_prefix_space", true) ? "always" : "never") != "never";
    t->m_splitWords = p.value("split", false);
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& a : j["added_tokens"]) t->addSpecial(a.value("content", ""), a.value("id", -1));
  if (j.contains("post_processor")) parseTemplateProcessing(j["post_processor"], *t, t->m_single, t->m_pair);
  auto tokenName = [&](const char* key) -> std::string {
    if (!config.contains(key)) return "";
    const auto& v = config[key];
    return v.is_string() ? v.get<std::string>() : (v.is_object() ? v.value("content", "") : "");
  };
  if (auto id = t->idOf(tokenName("bos_token").empty() ? "<s>" : tokenName("bos_token"))) t->m_bos = *id;
  if (auto id = t->idOf(tokenName("eos_token").empty() ? "</s>" : tokenName("eos_token"))) t->m_eos = *id;
  // LlamaTokenizerFast rebuilds its template from add_bos_token / add_eos_token.
  if (config.contains("add_bos_token") || config.contains("add_eos_token")) {
    const bool bos = config.value("add_bos_token", true), eos = config.value("add_eos_token", false);
    t->m_single.clear();
    t->m_pair.clear();
    for (int seq = 0; seq < 2; ++seq) {
      if (bos && t->m_bos) t->m_pair.push_back({false, 0, *t->m_bos, seq});
      t->m_pair.push_back({true, seq, -1, seq});
      if (eos && t->m_eos) t->m_pair.push_back({false, 0, *t->m_eos, seq});
    }
    if (bos && t->m_bos) t->m_single.push_back({false, 0, *t->m_bos, 0});
    t->m_single.push_back({true, 0, -1, 0});
    if (eos && t->m_eos) t->m_single.push_back({false, 0, *t->m_eos, 0});
  }
  return t;
}

void SentencePieceBpeTokenizer::appendWord(const std::string& word, Encoding& out) const {
  const std::vector<std::string> parts = bpeMerge(word, m_ranks);
  for (const auto& p : parts) {
    if (auto id = idOf(p)) {
      out.ids.push_back(*id);
      out.pieces.push_back(p);
      continue;
    }
    bool done = false;
    if (m_byteFallback) {
      std::vector<int64_t> bytes;
      for (unsigned char b : p) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        auto id = idOf(buf);
        if (!id) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == p.size()) {
        for (int64_t id : bytes) {
          out.ids.push_back(id);
          out.pieces.push_back(piece(id));
        }
        done = true;
      }
    }
    if (!done) {
      if (m_unk < 0) throw InputError("piece '" + p + "' is not in the vocabulary and the tokenizer has no unk token");
      out.ids.push_back(m_unk);
      out.pieces.push_back(piece(m_unk));
    }
  }
}

Encoding SentencePieceBpeTokenizer::tokenize(const std::string& text) const {
  Encoding out;
  bool first = true;
  for (const auto& [specialId, segment] : splitSpecial(text)) {
    if (specialId >= 0) {
      out.ids.push_back(specialId);
      out.pieces.push_back(segment);
      first = false;
      continue;
    }
    unicode::decodeUtf8(segment);  // validates UTF-8 (throws InputError naming the byte)
    std::string normalized = replaceAll(segment, " ", kSpace);
    if (m_prepend && first && !normalized.empty()) normalized = kSpace + normalized;
    first = false;
    if (!m_splitWords) {
      appendWord(normalized, out);
      continue;
    }
    size_t start = 0;
    while (start < normalized.size()) {  // split before every ▁ (Metaspace split=true)
      size_t next = normalized.find(kSpace, start + kSpace.size());
      if (normalized.compare(start, kSpace.size(), kSpace) != 0) next = normalized.find(kSpace, start);
      if (next == std::string::npos) next = normalized.size();
      appendWord(normalized.substr(start, next - start), out);
      start = next;
    }
  }
  out.typeIds.assign(out.ids.size(), 0);
  return out;
}

std::string SentencePieceBpeTokenizer::pieceBytes(int64_t id) const {
  const std::string p = piece(id);
  const int b = hexByte(p);
  if (b >= 0) return std::string(1, static_cast<char>(b));
  return replaceAll(p, kSpace, " ");
}

std::string SentencePieceBpeTokenizer::decode(const std::vector<int64_t>& ids, bool skipSpecial) const {
  std::string bytes;
  for (int64_t id : ids) {
    if (isSpecial(id)) {
      if (!skipSpecial) bytes += piece(id);
      continue;
    }
    bytes += pieceBytes(id);
  }
  if (m_prepend && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return unicode::encodeUtf8(unicode::decodeUtf8Lossy(bytes));
}

std::string SentencePieceBpeTokenizer::displayLabel(int64_t id) const {
  if (isSpecial(id)) return piece(id);
  const std::string p = piece(id);
  if (hexByte(p) >= 0) {
    // A lone byte: show the byte, or the character when it is printable ASCII / newline.
    const int b = hexByte(p);
    if (b == '\n') return "\\n";
    if (b == '\t') return "\\t";
    if (b >= 0x20 && b < 0x7F) return std::string(1, static_cast<char>(b));
    return p;
  }
  return displayBytes(pieceBytes(id));
}

}  // namespace attnscope
