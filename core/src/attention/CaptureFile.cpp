#include "attnscope/CaptureFile.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <set>

#include "base/AllocatorTuning.h"
#include "attention/HeadScores.h"
#include "attention/HeadTiles.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/Errors.h"
#include "attnscope/SafetensorsFile.h"

namespace attnscope {

namespace {

std::string dims(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

at::Tensor asFloat(const at::Tensor& t) { return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat); }

}  // namespace

std::shared_ptr<CaptureFile> CaptureFile::open(const std::string& path) {
  detail::tuneAllocator();  // its heads are computed or copied in large row blocks
  auto c = std::shared_ptr<CaptureFile>(new CaptureFile());
  c->m_path = path;
  try {
    c->m_file = SafetensorsFile::open(path);
  } catch (const SafetensorsError& e) {
    throw InputError(std::string("capture: ") + e.what());
  }
  auto it = c->m_file->metadata().find("attnscope");
  if (it == c->m_file->metadata().end()) throw InputError("'" + path + "' is not an AttnScope capture (no metadata)");
  const std::string where = "'" + path + "': ";
  try {
    c->m_meta = nlohmann::json::parse(it->second);
    const nlohmann::json& meta = c->m_meta;
    if (!meta.is_object()) throw InputError(where + "the metadata is not a JSON object");
    const std::string store = meta.value("store", "probs");
    if (store != "probs" && store != "qk") throw InputError(where + "metadata store: expected \"probs\" or \"qk\", got \"" + store + "\"");
    c->m_kind = store == "qk" ? CaptureKind::QueryKey : CaptureKind::Probabilities;
    c->m_stackOrder = meta.value("stacks", std::vector<std::string>{"self"});
    if (meta.contains("heads"))
      for (const auto& h : meta.at("heads")) {
        if (!h.is_number_integer() || h.get<int64_t>() < 0 || h.get<int64_t>() > (1 << 16))
          throw InputError(where + "metadata heads: expected head indices, got " + h.dump().substr(0, 40));
        c->m_heads.push_back(static_cast<int>(h.get<int64_t>()));
      }
    if (c->m_kind == CaptureKind::Probabilities) {
      for (const auto& stack : c->m_stackOrder)
        for (int l = 0; l <= 4096; ++l) {
          const std::string name = captureTensorName(stack, l);
          if (!c->m_file->has(name)) continue;
          const at::Tensor t = c->m_file->tensor(name);  // [heads, q, k]
          if (t.dim() != 3) throw InputError(where + "'" + name + "' is " + dims(t) + ", not [heads, q, k]");
          if (c->m_heads.empty())
            for (int h = 0; h < t.size(0); ++h) c->m_heads.push_back(h);
          if (static_cast<int64_t>(c->m_heads.size()) != t.size(0))
            throw InputError(where + "'" + name + "' holds " + std::to_string(t.size(0)) + " heads but the metadata lists " +
                             std::to_string(c->m_heads.size()));
          c->m_shapes[{stack, l}] = {t.size(1), t.size(2)};
        }
    } else {
      const nlohmann::json& layers = meta.at("qk_layers");
      if (!layers.is_array()) throw InputError(where + "metadata qk_layers: expected an array");
      for (const auto& e : layers) {
        const std::string stack = e.at("stack").get<std::string>();
        const int64_t layer = e.at("layer").get<int64_t>();
        if (std::find(c->m_stackOrder.begin(), c->m_stackOrder.end(), stack) == c->m_stackOrder.end())
          throw InputError(where + "metadata qk_layers: stack '" + stack.substr(0, 40) + "' is not among the stacks");
        if (layer < 0 || layer > 4096) throw InputError(where + "metadata qk_layers: layer " + std::to_string(layer) + " out of range");
        const std::string at = "layer " + std::to_string(layer) + " of '" + stack + "': ";
        QueryKeyLayer q = readQueryKeyLayer(
            e, c->m_heads,
            [&](const std::string& what) {
              const std::string name = captureTensorName(stack, static_cast<int>(layer), what);
              return c->m_file->has(name) ? c->m_file->tensor(name) : at::Tensor();
            },
            where + "metadata qk_layers " + at);
        c->m_shapes[{stack, static_cast<int>(layer)}] = {q.rows(), q.cols()};
        c->m_qk[{stack, static_cast<int>(layer)}] = std::move(q);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where + "unreadable metadata: " + e.what());
  }
  if (c->m_shapes.empty()) throw InputError("'" + path + "' holds no attention tensors");
  return c;
}

std::vector<std::string> CaptureFile::stacks() const {
  std::vector<std::string> out;
  for (const auto& s : m_stackOrder)
    if (!layers(s).empty()) out.push_back(s);
  return out;
}

std::vector<int> CaptureFile::layers(const std::string& stack) const {
  std::vector<int> out;
  for (const auto& kv : m_shapes)
    if (kv.first.first == stack) out.push_back(kv.first.second);
  return out;
}

std::pair<int64_t, int64_t> CaptureFile::shape(const std::string& stack, int layer) const {
  auto it = m_shapes.find({stack, layer});
  if (it == m_shapes.end()) {
    std::string have;
    for (int l : layers(stack)) have += (have.empty() ? "" : ",") + std::to_string(l);
    throw InputError("'" + m_path + "': layer " + std::to_string(layer) + " of stack '" + stack +
                     "' was not captured" + (have.empty() ? " (the stack has no layers)" : " (captured: " + have + ")"));
  }
  return it->second;
}

const QueryKeyLayer& CaptureFile::queryKeyLayer(const std::string& stack, int layer) const {
  shape(stack, layer);
  auto it = m_qk.find({stack, layer});
  if (it == m_qk.end()) throw InputError("'" + m_path + "' stores probabilities, not queries and keys");
  return it->second;
}

at::Tensor CaptureFile::block(const std::string& stack, int layer, int head, int64_t row0, int64_t rows, int64_t col0,
                              int64_t cols) const {
  const auto [tq, tk] = shape(stack, layer);
  const auto pos = std::find(m_heads.begin(), m_heads.end(), head);
  if (pos == m_heads.end()) {
    std::string have;
    for (int h : m_heads) have += (have.empty() ? "" : ",") + std::to_string(h);
    throw InputError("'" + m_path + "': head " + std::to_string(head) + " was not captured (captured: " + have + ")");
  }
  if (row0 < 0 || rows < 1 || row0 + rows > tq || col0 < 0 || cols < 1 || col0 + cols > tk)
    throw InputError("'" + m_path + "': rows " + std::to_string(row0) + "-" + std::to_string(row0 + rows - 1) +
                     ", keys " + std::to_string(col0) + "-" + std::to_string(col0 + cols - 1) + " are outside layer " +
                     std::to_string(layer) + "'s " + std::to_string(tq) + " x " + std::to_string(tk));
  const int hp = static_cast<int>(pos - m_heads.begin());
  if (m_kind == CaptureKind::QueryKey) return m_qk.at({stack, layer}).tile(hp, row0, rows, col0, cols);
  const at::Tensor t = m_file->tensor(captureTensorName(stack, layer));  // [heads, q, k]
  return asFloat(t[hp].narrow(0, row0, rows).narrow(1, col0, cols)).contiguous().clone();  // [rows, cols]
}

void CaptureFile::forEachRowBlock(const std::string& stack, int layer, int head, int64_t row0, int64_t rows,
                                  int64_t col0, int64_t cols, int64_t rowsPerBlock,
                                  const std::function<void(const at::Tensor&)>& sink) const {
  rowsPerBlock = std::max<int64_t>(1, rowsPerBlock);
  block(stack, layer, head, row0, std::min(rows, int64_t(1)), col0, cols);  // validates the whole range's start
  shape(stack, layer);
  for (int64_t r = row0; r < row0 + rows; r += rowsPerBlock)
    sink(block(stack, layer, head, r, std::min(rowsPerBlock, row0 + rows - r), col0, cols));
}

at::Tensor CaptureFile::probabilities(const std::string& stack, int layer) const {
  shape(stack, layer);
  if (m_kind == CaptureKind::QueryKey) return m_qk.at({stack, layer}).probabilities();  // [heads, q, k]
  return asFloat(m_file->tensor(captureTensorName(stack, layer))).contiguous();            // [heads, q, k]
}

int64_t CaptureFile::probabilityBytes() const {
  int64_t n = 0;
  for (const auto& kv : m_shapes) n += static_cast<int64_t>(m_heads.size()) * kv.second.first * kv.second.second * 4;
  return n;
}

void writeHeadBlock(const CaptureFile& capture, const std::string& stack, int layer, int head, int64_t row0,
                    int64_t rows, int64_t col0, int64_t cols, const std::string& out, bool flush) {
  const auto dot = out.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : out.substr(dot);
  if (ext != ".npy" && ext != ".safetensors")
    throw InputError("'" + out + "': the output must end in .npy or .safetensors");
  capture.block(stack, layer, head, row0, 1, col0, cols);                // validates head and start
  capture.block(stack, layer, head, row0 + rows - 1, 1, col0, cols);     // and the end, before the file exists
  const uint64_t bytes = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * 4;
  AtomicFile f(out, flush ? AtomicFile::Sync::Flush : AtomicFile::Sync::Lazy);
  std::string header;
  if (ext == ".npy") {
    // NPY 1.0: magic, version, little-endian header length, a Python dict padded with spaces to 64 bytes, '\n'.
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
    const size_t unpadded = 10 + dict.size() + 1;
    dict.append((64 - unpadded % 64) % 64, ' ');
    dict.push_back('\n');
    header = std::string("\x93NUMPY\x01\x00", 8);
    header.push_back(static_cast<char>(dict.size() & 0xff));
    header.push_back(static_cast<char>((dict.size() >> 8) & 0xff));
    header += dict;
  } else {
    nlohmann::json h;
    h["__metadata__"] = {{"attnscope", nlohmann::json({{"capture", capture.path()},
                                                       {"stack", stack},
                                                       {"layer", layer},
                                                       {"head", head},
                                                       {"rows", {row0, row0 + rows - 1}},
                                                       {"cols", {col0, col0 + cols - 1}}})
                                           .dump()}};
    h["attention"] = {{"dtype", "F32"}, {"shape", {rows, cols}}, {"data_offsets", {0, bytes}}};
    std::string text = h.dump();
    while (text.size() % 8 != 0) text.push_back(' ');
    for (int i = 0; i < 8; ++i) header.push_back(static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xff));
    header += text;
  }
  f.write(header);
  const int64_t perBlock = detail::chunkRows(capture.shape(stack, layer).second);
  if (capture.kind() == CaptureKind::QueryKey) {
    // Blocks of ~4 MB (a row's probabilities do not depend on which rows share its block), in two row buffers:
    // while one block goes out in one write (on its own thread), the next is computed in the other; only the keys a
    // block's rows can see are computed (in place), the rest of a row is 0. Small buffers are few fresh pages to
    // touch, which is most of a 1,000-row block's time otherwise.
    const int64_t perWrite = std::clamp<int64_t>((int64_t(1) << 20) / std::max<int64_t>(cols, 1), 1, perBlock);
    const QueryKeyLayer& qk = capture.queryKeyLayer(stack, layer);
    const int hp = qk.headPosition(head);
    const int64_t bufferRows = std::min(perWrite, rows);
    const at::Tensor buffers[2] = {at::empty({bufferRows, cols}, at::TensorOptions().dtype(at::kFloat)),   // [n, cols]
                                   at::empty({bufferRows, cols}, at::TensorOptions().dtype(at::kFloat))};  // [n, cols]
    std::future<void> writing;
    int next = 0;
    for (int64_t r = row0; r < row0 + rows; r += perWrite, next ^= 1) {
      const int64_t n = std::min(perWrite, row0 + rows - r);
      const at::Tensor block = buffers[next].narrow(0, 0, n);  // [n, cols]
      detail::tileInto(qk, hp, r, col0, block);
      if (writing.valid()) writing.get();  // the other buffer is free again (rethrows a failed write)
      const float* data = block.data_ptr<float>();
      writing = std::async(std::launch::async, [&f, data, bytes = static_cast<size_t>(n * cols) * sizeof(float)] {
        f.write(data, bytes);
      });
    }
    if (writing.valid()) writing.get();
  } else {
    capture.forEachRowBlock(stack, layer, head, row0, rows, col0, cols, perBlock, [&](const at::Tensor& b) {
      const at::Tensor c = b.contiguous();  // [n, cols]
      f.write(c.data_ptr<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
    });
  }
  f.commit();
}

std::string captureTensorName(const std::string& stack, int layer) {
  return captureTensorName(stack, layer, "attentions");
}

std::string captureTensorName(const std::string& stack, int layer, const std::string& what) {
  return (stack == "self" ? what : stack + "_" + what) + "." + std::to_string(layer);
}

}  // namespace attnscope
