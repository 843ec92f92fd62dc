// libattnscope_spm: the only code that links Debian's libsentencepiece. That library carries its own copy of
// protobuf's symbols, which clash with the libprotobuf LibTorch loads (a crash at start-up when both are linked into
// one program), so the engine loads this module with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) when a tokenizer.model is
// opened, and talks to it through the plain C functions below. No exception crosses this boundary.
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

namespace {
struct Model {
  sentencepiece::SentencePieceProcessor sp;
  std::vector<std::string> pieces;
  std::string decoded;
};

void copyError(const std::string& what, char* err, size_t len) {
  if (!err || len == 0) return;
  std::strncpy(err, what.c_str(), len - 1);
  err[len - 1] = '\0';
}
}  // namespace

extern "C" {

/// Opens a SentencePiece model; nullptr with a message in \p err when it cannot.
__attribute__((visibility("default"))) void* attnscope_spm_open(const char* path, char* err, size_t errLen) {
  try {
    auto* m = new Model();
    const auto status = m->sp.Load(path);
    if (!status.ok()) {
      copyError(status.ToString(), err, errLen);
      delete m;
      return nullptr;
    }
    for (int i = 0; i < m->sp.GetPieceSize(); ++i) m->pieces.push_back(m->sp.IdToPiece(i));
    return m;
  } catch (const std::exception& e) {
    copyError(e.what(), err, errLen);
    return nullptr;
  }
}

__attribute__((visibility("default"))) void attnscope_spm_close(void* model) { delete static_cast<Model*>(model); }

__attribute__((visibility("default"))) int attnscope_spm_size(void* model) {
  return static_cast<int>(static_cast<Model*>(model)->pieces.size());
}

__attribute__((visibility("default"))) const char* attnscope_spm_piece(void* model, int id) {
  return static_cast<Model*>(model)->pieces.at(static_cast<size_t>(id)).c_str();
}

/// 0 normal, 1 control, 2 unknown, 3 byte, 4 user-defined.
__attribute__((visibility("default"))) int attnscope_spm_type(void* model, int id) {
  const auto& sp = static_cast<Model*>(model)->sp;
  if (sp.IsControl(id)) return 1;
  if (sp.IsUnknown(id)) return 2;
  if (sp.IsByte(id)) return 3;
  if (sp.IsUnused(id)) return 4;
  return 0;
}

__attribute__((visibility("default"))) int attnscope_spm_bos(void* model) { return static_cast<Model*>(model)->sp.bos_id(); }
__attribute__((visibility("default"))) int attnscope_spm_eos(void* model) { return static_cast<Model*>(model)->sp.eos_id(); }

/// Encodes \p len bytes of \p text; writes up to \p cap ids and returns how many there are (-1 on failure).
__attribute__((visibility("default"))) int attnscope_spm_encode(void* model, const char* text, size_t len, int* ids,
                                                                int cap) {
  try {
    std::vector<int> out;
    if (!static_cast<Model*>(model)->sp.Encode(std::string(text, len), &out).ok()) return -1;
    for (int i = 0; i < cap && i < static_cast<int>(out.size()); ++i) ids[i] = out[static_cast<size_t>(i)];
    return static_cast<int>(out.size());
  } catch (...) {
    return -1;
  }
}

/// Decodes \p n ids; the text stays valid until the next call on this model.
__attribute__((visibility("default"))) const char* attnscope_spm_decode(void* model, const int* ids, int n) {
  auto* m = static_cast<Model*>(model);
  try {
    m->decoded.clear();
    if (!m->sp.Decode(std::vector<int>(ids, ids + n), &m->decoded).ok()) m->decoded.clear();
  } catch (...) {
    m->decoded.clear();
  }
  return m->decoded.c_str();
}
}
