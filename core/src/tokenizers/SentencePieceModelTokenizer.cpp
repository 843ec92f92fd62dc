#include "SentencePieceModelTokenizer.h"

#include <dlfcn.h>

#include <cstdlib>
#include <type_traits>

#include <filesystem>
#include <mutex>

#include "base/Unicode.h"
#include "TokenizerParts.h"
#include "attnscope/Errors.h"

namespace attnscope {

namespace {

/// The functions of the attnscope_spm module (core/spm/SentencePieceBridge.cpp).
struct Bridge {
  void* (*open)(const char*, char*, size_t) = nullptr;
  void (*close)(void*) = nullptr;
  int (*size)(void*) = nullptr;
  const char* (*piece)(void*, int) = nullptr;
  int (*type)(void*, int) = nullptr;
  int (*bos)(void*) = nullptr;
  int (*eos)(void*) = nullptr;
  int (*encode)(void*, const char*, size_t, int*, int) = nullptr;
  const char* (*decode)(void*, const int*, int) = nullptr;
};

/// Loads the module beside libattnscope_core (or $ATTNSCOPE_SPM_MODULE) once: RTLD_LOCAL | RTLD_DEEPBIND keep
/// libsentencepiece's private protobuf symbols away from the libprotobuf LibTorch uses.
const Bridge& bridge() {
  static std::once_flag once;
  static Bridge b;
  static std::string error;
  std::call_once(once, [] {
    std::string path;
    if (const char* env = std::getenv("ATTNSCOPE_SPM_MODULE"); env && *env) {
      path = env;
    } else {
      Dl_info info{};
      if (dladdr(reinterpret_cast<void*>(&bridge), &info) && info.dli_fname)
        path = (std::filesystem::path(info.dli_fname).parent_path() / "libattnscope_spm.so").string();
    }
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer refuses RTLD_DEEPBIND, and without it libsentencepiece binds to LibTorch's libprotobuf and
    // crashes: in sanitizer builds (./run.sh sanitize) legacy SentencePiece models are unavailable.
    error = "SentencePiece tokenizer.model files cannot be read in an AddressSanitizer build";
    return;
#endif
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) {
      error = std::string("cannot load the SentencePiece module '") + path + "': " + dlerror();
      return;
    }
    auto sym = [&](auto& fn, const char* name) { fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name)); };
    sym(b.open, "attnscope_spm_open");
    sym(b.close, "attnscope_spm_close");
    sym(b.size, "attnscope_spm_size");
    sym(b.piece, "attnscope_spm_piece");
    sym(b.type, "attnscope_spm_type");
    sym(b.bos, "attnscope_spm_bos");
    sym(b.eos, "attnscope_spm_eos");
    sym(b.encode, "attnscope_spm_encode");
    sym(b.decode, "attnscope_spm_decode");
    if (!b.open || !b.decode) error = "the SentencePiece module '" + path + "' lacks its functions";
  });
  if (!error.empty()) throw TokenizerError(error);
  return b;
}

class SentencePieceModelTokenizer : public Tokenizer {
 public:
  SentencePieceModelTokenizer(const std::string& path, const nlohmann::json& config) : m_bridge(bridge()) {
    char err[512] = {0};
    m_model = m_bridge.open(path.c_str(), err, sizeof err);
    if (!m_model) throw TokenizerError("'" + path + "' is not a SentencePiece model: " + err);
    const int n = m_bridge.size(m_model);
    std::map<std::string, int64_t> vocab;
    for (int i = 0; i < n; ++i) vocab.emplace(m_bridge.piece(m_model, i), i);
    setVocab(vocab);
    m_pieces.assign(static_cast<size_t>(n), std::string());
    for (int i = 0; i < n; ++i) m_pieces[static_cast<size_t>(i)] = m_bridge.piece(m_model, i);
    for (int i = 0; i < n; ++i) {
      const int t = m_bridge.type(m_model, i);
      if (t == 1 || t == 2) m_special[i] = m_pieces[static_cast<size_t>(i)];
    }
    if (m_bridge.bos(m_model) >= 0) m_bos = m_bridge.bos(m_model);
    if (m_bridge.eos(m_model) >= 0) m_eos = m_bridge.eos(m_model);
    const std::string cls = config.is_object() ? config.value("tokenizer_class", std::string()) : std::string();
    const bool t5 = cls.rfind("T5", 0) == 0;
    const bool addBos = config.is_object() && config.contains("add_bos_token") && config["add_bos_token"].is_boolean()
                            ? config["add_bos_token"].get<bool>()
                            : !t5;
    const bool addEos = config.is_object() && config.contains("add_eos_token") && config["add_eos_token"].is_boolean()
                            ? config["add_eos_token"].get<bool>()
                            : t5;
    if (addBos && m_bos) m_single.push_back({false, 0, *m_bos, 0});
    m_single.push_back({true, 0, -1, 0});
    if (addEos && m_eos) m_single.push_back({false, 0, *m_eos, 0});
    m_pair = m_single;
    for (TemplatePart p : m_single) {
      if (p.isSequence) p.sequence = 1;
      p.typeId = 1;
      m_pair.push_back(p);
    }
  }

  ~SentencePieceModelTokenizer() override {
    if (m_model) m_bridge.close(m_model);
  }
  SentencePieceModelTokenizer(const SentencePieceModelTokenizer&) = delete;
  SentencePieceModelTokenizer& operator=(const SentencePieceModelTokenizer&) = delete;

  std::string kind() const override { return "sentencepiece"; }

  Encoding tokenize(const std::string& text) const override {
    size_t bad = 0;
    if (!unicode::isValidUtf8(text, &bad))
      throw InputError("text is not valid UTF-8 (invalid byte sequence at byte " + std::to_string(bad) + ")");
    std::vector<int> ids(text.size() + 16);
    std::lock_guard<std::mutex> lock(m_mutex);
    int n = m_bridge.encode(m_model, text.data(), text.size(), ids.data(), static_cast<int>(ids.size()));
    if (n > static_cast<int>(ids.size())) {
      ids.resize(static_cast<size_t>(n));
      n = m_bridge.encode(m_model, text.data(), text.size(), ids.data(), n);
    }
    if (n < 0) throw InputError("SentencePiece could not encode the text");
    ids.resize(static_cast<size_t>(n));
    Encoding out;
    for (int id : ids) {
      out.ids.push_back(id);
      out.pieces.push_back(piece(id));
    }
    out.typeIds.assign(out.ids.size(), 0);
    return out;
  }

  std::string decode(const std::vector<int64_t>& ids, bool skipSpecial) const override {
    std::vector<int> keep;
    for (int64_t id : ids)
      if (id >= 0 && id < vocabSize() && !(skipSpecial && isSpecial(id))) keep.push_back(static_cast<int>(id));
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_bridge.decode(m_model, keep.data(), static_cast<int>(keep.size()));
  }

  std::string displayLabel(int64_t id) const override {
    const std::string p = piece(id);
    if (isSpecial(id)) return p;
    return tok::metaspaceLabel(p);
  }

 private:
  const Bridge& m_bridge;
  void* m_model = nullptr;
  mutable std::mutex m_mutex;  ///< the bridge's decode buffer is per model
};

}  // namespace

std::unique_ptr<Tokenizer> loadSentencePieceModel(const std::string& path, const nlohmann::json& config) {
  return std::make_unique<SentencePieceModelTokenizer>(path, config);
}

}  // namespace attnscope
