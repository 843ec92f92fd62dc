#include "attnscope/SafetensorsFile.h"

#include "attnscope/AtomicFile.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "attnscope/Errors.h"

namespace attnscope {

namespace {

struct DtypeInfo {
  const char* name;
  size_t size;
  at::ScalarType type;
};

const DtypeInfo kDtypes[] = {
    {"F32", 4, at::kFloat}, {"F16", 2, at::kHalf},   {"BF16", 2, at::kBFloat16}, {"F64", 8, at::kDouble},
    {"I64", 8, at::kLong},  {"I32", 4, at::kInt},    {"I16", 2, at::kShort},     {"I8", 1, at::kChar},
    {"U8", 1, at::kByte},   {"BOOL", 1, at::kBool},
};

const DtypeInfo* findDtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* findDtype(at::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return &d;
  return nullptr;
}

std::string knownDtypes() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

std::string shapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

size_t safetensorsDtypeSize(const std::string& dtype) {
  const DtypeInfo* d = findDtype(dtype);
  return d ? d->size : 0;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto fail = [&](const std::string& what) -> SafetensorsError {
    return SafetensorsError("safetensors file '" + path + "': " + what);
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::string("cannot open (") + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw fail("not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw fail("file is " + std::to_string(size) + " bytes; a safetensors file starts with an 8-byte header length");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw fail(std::string("cannot memory-map (") + std::strerror(errno) + ")");

  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->m_self = file;
  file->m_path = path;
  file->m_map = map;
  file->m_mapSize = size;
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | bytes[i];  // little-endian u64
  if (headerLen > size - 8)
    throw fail("header length " + std::to_string(headerLen) + " is larger than the " + std::to_string(size - 8) +
               " bytes that follow it (file truncated or not safetensors)");
  if (headerLen < 2) throw fail("header length " + std::to_string(headerLen) + " is too small for a JSON object");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + headerLen);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw fail("header is not a JSON object");

  const uint64_t dataSize = size - 8 - headerLen;
  file->m_data = bytes + 8 + headerLen;
  std::vector<const SafetensorsEntry*> byOffset;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw fail("__metadata__ value '" + m.key() + "' is not a string");
        file->m_metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw fail("tensor '" + name + "' needs dtype, shape and data_offsets");
    SafetensorsEntry e;
    e.name = name;
    if (!v["dtype"].is_string()) throw fail("tensor '" + name + "': dtype is not a string");
    e.dtype = v["dtype"].get<std::string>();
    const DtypeInfo* dt = findDtype(e.dtype);
    if (!dt) throw fail("tensor '" + name + "' has unknown dtype '" + e.dtype + "' (known: " + knownDtypes() + ")");
    if (!v["shape"].is_array()) throw fail("tensor '" + name + "': shape is not an array");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw fail("tensor '" + name + "': shape entries must be non-negative integers");
      const auto dim = d.get<uint64_t>();
      if (__builtin_mul_overflow(numel, dim, &numel)) throw fail("tensor '" + name + "': shape overflows");
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw fail("tensor '" + name + "': data_offsets must be two non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end) throw fail("tensor '" + name + "': data_offsets begin > end");
    if (e.end > dataSize)
      throw fail("tensor '" + name + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 ") lie outside the data area of " + std::to_string(dataSize) + " bytes (file truncated?)");
    uint64_t expected = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dt->size), &expected) || expected != e.end - e.begin)
      throw fail("tensor '" + name + "': " + e.dtype + " " + shapeString(e.shape) + " needs " +
                 std::to_string(expected) + " bytes but data_offsets span " + std::to_string(e.end - e.begin));
    file->m_entries.emplace(name, std::move(e));
  }
  for (const auto& kv : file->m_entries) byOffset.push_back(&kv.second);
  std::sort(byOffset.begin(), byOffset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const auto* prev = byOffset[i - 1];
    const auto* cur = byOffset[i];
    if (cur->begin < prev->end && cur->end > cur->begin && prev->end > prev->begin)
      throw fail("tensors '" + prev->name + "' and '" + cur->name + "' overlap in the data area");
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (m_map) ::munmap(m_map, m_mapSize);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<const SafetensorsEntry*> v;
  for (const auto& kv : m_entries) v.push_back(&kv.second);
  std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  std::vector<std::string> out;
  for (auto* e : v) out.push_back(e->name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = m_entries.find(name);
  if (it == m_entries.end()) throw SafetensorsError("safetensors file '" + m_path + "' has no tensor '" + name + "'");
  return it->second;
}

void SafetensorsFile::releasePages(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  if (!m_map || e.end <= e.begin) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = reinterpret_cast<uintptr_t>(m_data + e.begin) & ~(page - 1);         // page-aligned down
  const uintptr_t last = (reinterpret_cast<uintptr_t>(m_data + e.end) + page - 1) & ~(page - 1);  // and up
  // Read-only file pages: dropping them costs at most a re-read of a neighbour's shared page, never data.
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const DtypeInfo* dt = findDtype(e.dtype);
  auto keepAlive = m_self.lock();
  void* ptr = const_cast<uint8_t*>(m_data + e.begin);
  // Unaligned data (offsets need not be multiples of the element size) is copied.
  if (reinterpret_cast<uintptr_t>(ptr) % dt->size != 0) {
    at::Tensor out = at::empty(e.shape, at::TensorOptions().dtype(dt->type));
    std::memcpy(out.data_ptr(), ptr, e.end - e.begin);
    return out;
  }
  return at::from_blob(
      ptr, e.shape, [keepAlive](void*) {}, at::TensorOptions().dtype(dt->type));
}

void SafetensorsWriter::add(const std::string& name, const at::Tensor& tensor) {
  if (!findDtype(tensor.scalar_type()))
    throw InputError("cannot write tensor '" + name + "': dtype " + std::string(at::toString(tensor.scalar_type())) +
                     " has no safetensors equivalent");
  for (auto& kv : m_tensors)
    if (kv.first == name) {
      kv.second = tensor;
      return;
    }
  m_tensors.emplace_back(name, tensor);
}

void SafetensorsWriter::writeTo(std::ostream& f) const {
  writeToSink([&f](const char* p, size_t n) { f.write(p, static_cast<std::streamsize>(n)); });
}

void SafetensorsWriter::writeToSink(const std::function<void(const char*, size_t)>& sink) const {
  std::vector<std::pair<std::string, at::Tensor>> sorted = m_tensors;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::json header = nlohmann::json::object();
  if (!m_metadata.empty()) header["__metadata__"] = m_metadata;
  uint64_t offset = 0;
  std::vector<at::Tensor> cpu;
  for (const auto& [name, t] : sorted) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = c.numel() * c.element_size();
    header[name] = {{"dtype", findDtype(c.scalar_type())->name},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(c);
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');
  uint8_t len[8];
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((n >> (8 * i)) & 0xff);
  sink(reinterpret_cast<const char*>(len), 8);
  sink(h.data(), h.size());
  for (const auto& c : cpu) sink(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel() * c.element_size()));
}

std::string SafetensorsWriter::bytes() const {
  std::ostringstream out(std::ios::binary);
  writeTo(out);
  return out.str();
}

void SafetensorsWriter::write(const std::string& path) const {
  AtomicFile f(path);  // the old file stays intact unless the whole new one is written
  writeToSink([&f](const char* p, size_t n) { f.write(p, n); });
  f.commit();
}

}  // namespace attnscope
