// Post-processors of tokenizer.json: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel (offsets only:
// nothing to do for ids) and Sequence, registered by "type".
#include <optional>

#include "TokenizerParts.h"

namespace attnscope::tok {
namespace {

void append(Encoding& out, int64_t id, const std::string& piece, int64_t type) {
  out.ids.push_back(id);
  out.pieces.push_back(piece);
  out.typeIds.push_back(type);
}

void appendAll(Encoding& out, const Encoding& e, int64_t type) {
  for (size_t i = 0; i < e.ids.size(); ++i) append(out, e.ids[i], e.pieces[i], type);
}

class Template : public PostProcessor {
 public:
  Template(const Json& j, const BuildContext& ctx) {
    std::map<std::string, std::vector<std::pair<int64_t, std::string>>> specials;
    if (j.has("special_tokens"))
      for (const auto& [name, tok] : j["special_tokens"].members()) {
        const auto ids = tok["ids"].elements();
        const auto tokens = tok.has("tokens") ? tok["tokens"].elements() : std::vector<Json>();
        for (size_t i = 0; i < ids.size(); ++i)
          specials[name].emplace_back(ids[i].integer(0, INT32_MAX), i < tokens.size() ? tokens[i].str() : name);
      }
    auto parse = [&](const Json& list, std::vector<Part>& out) {
      for (const Json& item : list.elements()) {
        Part part;
        if (item.has("Sequence")) {
          const Json seq = item["Sequence"];
          part.sequence = seq.str("id", "A") == "B" ? 1 : 0;
          part.type = seq.integer("type_id", 0);
        } else if (item.has("SpecialToken")) {
          const Json st = item["SpecialToken"];
          const std::string name = st["id"].str();
          part.type = st.integer("type_id", 0);
          auto it = specials.find(name);
          if (it != specials.end()) {
            part.tokens = it->second;
          } else {
            const int64_t id = ctx.idOf(name);
            if (id < 0) st["id"].fail("special token '" + name + "' is neither in special_tokens nor in the vocabulary");
            part.tokens = {{id, name}};
          }
        } else {
          item.fail("expected a Sequence or a SpecialToken");
        }
        out.push_back(std::move(part));
      }
    };
    parse(j["single"], m_single);
    if (j.has("pair")) parse(j["pair"], m_pair);
  }
  bool handlesPairs() const override { return !m_pair.empty(); }
  Encoding process(const Encoding& a, const Encoding* b) const override {
    Encoding out;
    for (const Part& p : b ? m_pair : m_single) {
      if (p.sequence >= 0) appendAll(out, p.sequence == 1 && b ? *b : a, p.type);
      else
        for (const auto& [id, piece] : p.tokens) append(out, id, piece, p.type);
    }
    return out;
  }

 private:
  struct Part {
    int sequence = -1;  ///< 0 = A, 1 = B, -1 = special tokens
    int64_t type = 0;
    std::vector<std::pair<int64_t, std::string>> tokens;
  };
  std::vector<Part> m_single, m_pair;
};

/// [CLS] A [SEP] (B [SEP]) — BERT (types 0 then 1) or <s> A </s> (</s> B </s>) — RoBERTa (types 0 then 1).
class ClsSep : public PostProcessor {
 public:
  ClsSep(const Json& j, bool roberta) : m_roberta(roberta) {
    m_cls = {j["cls"].at(1).integer(0, INT32_MAX), j["cls"].at(0).str()};
    m_sep = {j["sep"].at(1).integer(0, INT32_MAX), j["sep"].at(0).str()};
  }
  Encoding process(const Encoding& a, const Encoding* b) const override {
    Encoding out;
    append(out, m_cls.first, m_cls.second, 0);
    appendAll(out, a, 0);
    append(out, m_sep.first, m_sep.second, 0);
    if (b) {
      if (m_roberta) append(out, m_sep.first, m_sep.second, 1);
      appendAll(out, *b, 1);
      append(out, m_sep.first, m_sep.second, 1);
    }
    return out;
  }

 private:
  bool m_roberta;
  std::pair<int64_t, std::string> m_cls, m_sep;
};

class Identity : public PostProcessor {
 public:
  bool handlesPairs() const override { return false; }
  Encoding process(const Encoding& a, const Encoding* b) const override {
    Encoding out = a;
    if (b) appendAll(out, *b, 1);
    return out;
  }
};

class Sequence : public PostProcessor {
 public:
  Sequence(const Json& j, const BuildContext& ctx) {
    for (const Json& p : j["processors"].elements()) m_parts.push_back(build<PostProcessor>(p, ctx, "post-processor"));
  }
  bool handlesPairs() const override {
    for (const auto& p : m_parts)
      if (p && p->handlesPairs()) return true;
    return false;
  }
  Encoding process(const Encoding& a, const Encoding* b) const override {
    // As HF's Sequence: each processor in turn, the first one that adds special tokens joins the sequences and the
    // ones after it see the joined encoding. Processors that only touch offsets (ByteLevel) change no id, so they
    // are skipped wherever they stand (Llama 3's ByteLevel then TemplateProcessing adds <|begin_of_text|>).
    std::optional<Encoding> joined;
    for (const auto& p : m_parts) {
      if (!p || dynamic_cast<const Identity*>(p.get())) continue;
      joined = joined ? p->process(*joined, nullptr) : p->process(a, b);
    }
    return joined ? *joined : Identity().process(a, b);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> m_parts;
};

using PP = PostProcessor;
const Register<PP> kTemplate("TemplateProcessing", [](const Json& j, const BuildContext& c) -> std::unique_ptr<PP> {
  return std::make_unique<Template>(j, c);
});
const Register<PP> kBert("BertProcessing", [](const Json& j, const BuildContext&) -> std::unique_ptr<PP> {
  return std::make_unique<ClsSep>(j, false);
});
const Register<PP> kRoberta("RobertaProcessing", [](const Json& j, const BuildContext&) -> std::unique_ptr<PP> {
  return std::make_unique<ClsSep>(j, true);
});
const Register<PP> kByteLevel("ByteLevel", [](const Json&, const BuildContext&) -> std::unique_ptr<PP> {
  return std::make_unique<Identity>();
});
const Register<PP> kSequence("Sequence", [](const Json& j, const BuildContext& c) -> std::unique_ptr<PP> {
  return std::make_unique<Sequence>(j, c);
});

}  // namespace
}  // namespace attnscope::tok
