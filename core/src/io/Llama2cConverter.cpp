#include "attnscope/Llama2cConverter.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/Unicode.h"
#include "attnscope/Errors.h"
#include "attnscope/SafetensorsFile.h"

namespace attnscope {

namespace fs = std::filesystem;

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581 ▁
constexpr uint32_t kVersionedMagic = 0x616b3432;  // "ak42": llama2.c export versions 1 and 2

std::string readWhole(const std::string& path, const char* what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw ModelLoadError(std::string(what) + " '" + path + "' does not exist or is not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelLoadError(std::string("cannot read ") + what + " '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int32_t readInt(const std::string& bytes, size_t at) {
  int32_t v = 0;
  std::memcpy(&v, bytes.data() + at, sizeof v);  // llama2.c files are little-endian, as is every host we build for
  return v;
}

struct Header {
  int dim, hidden, layers, heads, kvHeads, vocab, seqLen;
  bool shared;
};

Header readHeader(const std::string& bytes, const std::string& path) {
  if (bytes.size() < 28)
    throw ModelLoadError("llama2.c checkpoint '" + path + "' is " + std::to_string(bytes.size()) +
                         " bytes: too short for the 28-byte header");
  uint32_t magic = 0;
  std::memcpy(&magic, bytes.data(), 4);
  if (magic == kVersionedMagic)
    throw ModelLoadError("llama2.c checkpoint '" + path + "' is a versioned export (magic 'ak42', version " +
                         std::to_string(readInt(bytes, 4)) +
                         "); only the legacy version-0 format (as released in karpathy/tinyllamas) is supported");
  Header h{readInt(bytes, 0),  readInt(bytes, 4),  readInt(bytes, 8),  readInt(bytes, 12),
           readInt(bytes, 16), readInt(bytes, 20), readInt(bytes, 24), true};
  h.shared = h.vocab > 0;
  h.vocab = std::abs(h.vocab);
  auto bad = [&](const std::string& why) {
    return ModelLoadError("llama2.c checkpoint '" + path + "': header (dim " + std::to_string(h.dim) + ", hidden " +
                          std::to_string(h.hidden) + ", layers " + std::to_string(h.layers) + ", heads " +
                          std::to_string(h.heads) + ", kv_heads " + std::to_string(h.kvHeads) + ", vocab " +
                          std::to_string(h.vocab) + ", seq_len " + std::to_string(h.seqLen) + ") " + why);
  };
  const int limit = 1 << 20;
  for (int v : {h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seqLen})
    if (v <= 0 || v > limit) throw bad("has a value outside 1.." + std::to_string(limit) + ": not a llama2.c checkpoint");
  if (h.dim % h.heads != 0) throw bad("is inconsistent: dim is not a multiple of heads");
  if (h.heads % h.kvHeads != 0) throw bad("is inconsistent: heads is not a multiple of kv_heads");
  if ((h.dim / h.heads) % 2 != 0) throw bad("is inconsistent: the head size must be even for RoPE");
  return h;
}

/// Splits a UTF-8 string into its code points, each as UTF-8.
std::vector<std::string> codePoints(const std::string& s) {
  std::vector<std::string> out;
  for (char32_t cp : unicode::decodeUtf8(s)) out.push_back(unicode::encodeUtf8(cp));
  return out;
}

bool isBytePiece(const std::string& p) {
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' && std::isxdigit(static_cast<unsigned char>(p[3])) &&
         std::isxdigit(static_cast<unsigned char>(p[4]));
}

struct Piece {
  std::string text;  // sentencepiece form (▁ for spaces, "<s>" for BOS)
  float score = 0;
};

std::vector<Piece> readTokenizer(const std::string& path, int vocab) {
  const std::string bytes = readWhole(path, "llama2.c tokenizer");
  auto truncated = [&](int i) {
    return TokenizerError("llama2.c tokenizer '" + path + "' ends inside token " + std::to_string(i) + " of the " +
                          std::to_string(vocab) + " the checkpoint's vocabulary needs (truncated, or a tokenizer of "
                          "another model)");
  };
  if (bytes.size() < 4) throw truncated(0);
  const int maxLen = readInt(bytes, 0);
  if (maxLen <= 0 || maxLen > 4096)
    throw TokenizerError("llama2.c tokenizer '" + path + "': max_token_length " + std::to_string(maxLen) +
                         " is not plausible (expected 1..4096): not a llama2.c tokenizer.bin");
  std::vector<Piece> pieces;
  size_t at = 4;
  for (int i = 0; i < vocab; ++i) {
    if (at + 8 > bytes.size()) throw truncated(i);
    Piece p;
    std::memcpy(&p.score, bytes.data() + at, 4);
    const int len = readInt(bytes, at + 4);
    at += 8;
    if (len < 0 || len > maxLen)
      throw TokenizerError("llama2.c tokenizer '" + path + "': token " + std::to_string(i) + " has length " +
                           std::to_string(len) + ", outside 0.." + std::to_string(maxLen) + " (max_token_length)");
    if (at + static_cast<size_t>(len) > bytes.size()) throw truncated(i);
    std::string text = bytes.substr(at, static_cast<size_t>(len));
    at += static_cast<size_t>(len);
    size_t badAt = 0;
    if (!unicode::isValidUtf8(text, &badAt))
      throw TokenizerError("llama2.c tokenizer '" + path + "': token " + std::to_string(i) +
                           " is not valid UTF-8 (byte " + std::to_string(badAt) + ")");
    if (text == "\n<s>\n") text = "<s>";
    else if (text == "\n</s>\n") text = "</s>";
    else {
      size_t pos = 0;
      while ((pos = text.find(' ', pos)) != std::string::npos) {
        text.replace(pos, 1, kSpace);
        pos += kSpace.size();
      }
    }
    p.text = std::move(text);
    pieces.push_back(std::move(p));
  }
  if (at != bytes.size())
    throw TokenizerError("llama2.c tokenizer '" + path + "' holds " + std::to_string(bytes.size() - at) +
                         " bytes after the " + std::to_string(vocab) +
                         " tokens of the checkpoint's vocabulary: it belongs to another model");
  return pieces;
}

nlohmann::ordered_json buildTokenizerJson(const std::vector<Piece>& pieces, const std::string& path, int* mergeCount) {
  std::map<std::string, int> ids;
  for (size_t i = 0; i < pieces.size(); ++i)
    if (!ids.emplace(pieces[i].text, static_cast<int>(i)).second)
      throw TokenizerError("llama2.c tokenizer '" + path + "': token '" + pieces[i].text + "' appears twice");
  for (const char* special : {"<unk>", "<s>", "</s>"})
    if (!ids.count(special))
      throw TokenizerError("llama2.c tokenizer '" + path + "' has no " + special +
                           " token (expected a sentencepiece vocabulary with <unk>, <s>, </s>)");
  auto isSpecial = [](const std::string& t) { return t == "<unk>" || t == "<s>" || t == "</s>"; };

  // Merges as Hugging Face derives them from a sentencepiece BPE model: pieces by decreasing score, each
  // contributing every split into two vocabulary pieces (ordered by the ids of the left then right part).
  std::vector<int> order;
  for (size_t i = 0; i < pieces.size(); ++i)
    if (!isSpecial(pieces[i].text) && !isBytePiece(pieces[i].text)) order.push_back(static_cast<int>(i));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return pieces[a].score > pieces[b].score; });
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  for (int id : order) {
    const std::vector<std::string> cps = codePoints(pieces[id].text);
    std::vector<std::pair<int, int>> local;
    std::string left;
    for (size_t k = 1; k < cps.size(); ++k) {
      left += cps[k - 1];
      std::string right;
      for (size_t r = k; r < cps.size(); ++r) right += cps[r];
      auto l = ids.find(left), rr = ids.find(right);
      if (l != ids.end() && rr != ids.end()) local.emplace_back(l->second, rr->second);
    }
    std::sort(local.begin(), local.end());
    for (const auto& [l, r] : local) merges.push_back({pieces[l].text, pieces[r].text});
  }
  *mergeCount = static_cast<int>(merges.size());

  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i].text] = i;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (const char* special : {"<unk>", "<s>", "</s>"})
    added.push_back({{"id", ids.at(special)},
                     {"content", special},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  const int bos = ids.at("<s>");
  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Prepend"}, {"prepend", kSpace}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}}}};
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
        {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}},
        {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {bos}}, {"tokens", {"<s>"}}}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", "<unk>"},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", true},
                {"byte_fallback", true},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges}};
  return j;
}

void writeText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw InputError("cannot write '" + p.string() + "'");
}

}  // namespace

Llama2cConversion convertLlama2c(const std::string& checkpointPath, const std::string& tokenizerPath,
                                 const std::string& outDir) {
  std::error_code ec;
  const fs::path out(outDir);
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec)))
    throw InputError("output folder '" + outDir + "' exists and is not empty; choose a new folder (nothing was changed)");

  const std::string bytes = readWhole(checkpointPath, "llama2.c checkpoint");
  const Header h = readHeader(bytes, checkpointPath);
  const int64_t headSize = h.dim / h.heads, kvDim = static_cast<int64_t>(h.kvHeads) * headSize;
  const int64_t L = h.layers, D = h.dim, F = h.hidden, V = h.vocab;
  const int64_t floats = V * D + L * D + L * D * D + 2 * L * kvDim * D + L * D * D + L * D + 3 * L * D * F + D +
                         static_cast<int64_t>(h.seqLen) * headSize + (h.shared ? 0 : V * D);
  const int64_t expected = 28 + 4 * floats;
  if (static_cast<int64_t>(bytes.size()) != expected)
    throw ModelLoadError("llama2.c checkpoint '" + checkpointPath + "' is " + std::to_string(bytes.size()) +
                         " bytes; its header (dim " + std::to_string(h.dim) + ", layers " + std::to_string(h.layers) +
                         ", vocab " + std::to_string(h.vocab) + ") needs exactly " + std::to_string(expected) +
                         (static_cast<int64_t>(bytes.size()) < expected ? " (the file is truncated)"
                                                                        : " (extra bytes: not a legacy llama2.c file)"));
  const std::vector<Piece> pieces = readTokenizer(tokenizerPath, h.vocab);
  int mergeCount = 0;
  const nlohmann::ordered_json tokenizer = buildTokenizerJson(pieces, tokenizerPath, &mergeCount);

  const float* cursor = reinterpret_cast<const float*>(bytes.data() + 28);
  auto take = [&](std::vector<int64_t> shape) {  // the next array, copied out of the file buffer
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    at::Tensor t = at::empty(shape, at::kFloat);  // shape as given
    std::memcpy(t.data_ptr<float>(), cursor, static_cast<size_t>(n) * sizeof(float));
    cursor += n;
    return t;
  };
  // llama2.c interleaves each head's rotary pairs; Hugging Face rotates halves: regroup the rows per head.
  auto toRotateHalf = [&](const at::Tensor& w, int64_t nHeads) {
    return w.view({nHeads, headSize / 2, 2, D}).transpose(1, 2).reshape({nHeads * headSize, D});  // [nHeads*hs, D]
  };
  SafetensorsWriter writer;
  const at::Tensor embed = take({V, D});           // [vocab, dim]
  const at::Tensor attnNorm = take({L, D});        // [layers, dim]
  const at::Tensor wq = take({L, D, D});           // [layers, dim, dim]
  const at::Tensor wk = take({L, kvDim, D});       // [layers, kv_dim, dim]
  const at::Tensor wv = take({L, kvDim, D});       // [layers, kv_dim, dim]
  const at::Tensor wo = take({L, D, D});           // [layers, dim, dim]
  const at::Tensor ffnNorm = take({L, D});         // [layers, dim]
  const at::Tensor w1 = take({L, F, D});           // [layers, hidden, dim]
  const at::Tensor w2 = take({L, D, F});           // [layers, dim, hidden]
  const at::Tensor w3 = take({L, F, D});           // [layers, hidden, dim]
  const at::Tensor finalNorm = take({D});          // [dim]
  cursor += static_cast<int64_t>(h.seqLen) * headSize;  // RoPE cos/sin tables: recomputed by the engine
  writer.add("model.embed_tokens.weight", embed);
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    writer.add(p + "input_layernorm.weight", attnNorm[l]);
    writer.add(p + "self_attn.q_proj.weight", toRotateHalf(wq[l], h.heads));
    writer.add(p + "self_attn.k_proj.weight", toRotateHalf(wk[l], h.kvHeads));
    writer.add(p + "self_attn.v_proj.weight", wv[l]);
    writer.add(p + "self_attn.o_proj.weight", wo[l]);
    writer.add(p + "post_attention_layernorm.weight", ffnNorm[l]);
    writer.add(p + "mlp.gate_proj.weight", w1[l]);
    writer.add(p + "mlp.down_proj.weight", w2[l]);
    writer.add(p + "mlp.up_proj.weight", w3[l]);
  }
  writer.add("model.norm.weight", finalNorm);
  if (!h.shared) writer.add("lm_head.weight", take({V, D}));  // [vocab, dim]
  writer.setMetadata("format", "pt");
  writer.setMetadata("source", "llama2.c checkpoint " + fs::path(checkpointPath).filename().string() +
                                   ", converted by attnscope-cli convert-llama2c");

  const int bos = tokenizer["model"]["vocab"]["<s>"].get<int>();
  const int eos = tokenizer["model"]["vocab"]["</s>"].get<int>();
  nlohmann::ordered_json config = {{"architectures", {"LlamaForCausalLM"}},
                                   {"model_type", "llama"},
                                   {"hidden_size", h.dim},
                                   {"intermediate_size", h.hidden},
                                   {"num_hidden_layers", h.layers},
                                   {"num_attention_heads", h.heads},
                                   {"num_key_value_heads", h.kvHeads},
                                   {"head_dim", headSize},
                                   {"vocab_size", h.vocab},
                                   {"max_position_embeddings", h.seqLen},
                                   {"rms_norm_eps", 1e-5},  // fixed in llama2.c's model.py and run.c
                                   {"rope_theta", 10000.0},  // likewise
                                   {"hidden_act", "silu"},
                                   {"tie_word_embeddings", h.shared},
                                   {"attention_bias", false},
                                   {"mlp_bias", false},
                                   {"bos_token_id", bos},
                                   {"eos_token_id", eos},
                                   {"initializer_range", 0.02},
                                   {"torch_dtype", "float32"},
                                   {"use_cache", true}};
  nlohmann::ordered_json generation = {{"bos_token_id", bos}, {"eos_token_id", eos}, {"do_sample", false}};
  nlohmann::ordered_json tokenizerConfig = {{"add_bos_token", true},   {"add_eos_token", false},
                                            {"bos_token", "<s>"},      {"eos_token", "</s>"},
                                            {"unk_token", "<unk>"},    {"pad_token", nullptr},
                                            {"clean_up_tokenization_spaces", false},
                                            {"legacy", false},         {"model_max_length", h.seqLen},
                                            {"tokenizer_class", "LlamaTokenizerFast"}};
  nlohmann::ordered_json specialTokens = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}};

  // Stage beside the target, then move in place: a failure leaves no half-written model folder.
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  const fs::path stage = parent / (out.filename().string() + ".partial-" + std::to_string(::getpid()));
  fs::remove_all(stage, ec);
  if (!fs::create_directory(stage, ec)) throw InputError("cannot create '" + stage.string() + "': " + ec.message());
  Llama2cConversion result{h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seqLen, h.shared, mergeCount, {}};
  try {
    writer.write((stage / "model.safetensors").string());
    writeText(stage / "config.json", config.dump(2) + "\n");
    writeText(stage / "generation_config.json", generation.dump(2) + "\n");
    writeText(stage / "tokenizer.json", tokenizer.dump(2) + "\n");
    writeText(stage / "tokenizer_config.json", tokenizerConfig.dump(2) + "\n");
    writeText(stage / "special_tokens_map.json", specialTokens.dump(2) + "\n");
    if (fs::exists(out, ec)) fs::remove(out, ec);  // the empty folder checked above
    fs::rename(stage, out, ec);
    if (ec) throw InputError("cannot move the converted model to '" + outDir + "': " + ec.message());
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
  result.files = {"config.json",    "generation_config.json", "model.safetensors",
                  "tokenizer.json", "tokenizer_config.json",  "special_tokens_map.json"};
  return result;
}

}  // namespace attnscope
