#include "attnscope/MemoryBudget.h"

#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "attnscope/Errors.h"
#include "attnscope/Model.h"

namespace attnscope {

namespace {

constexpr int64_t kUnknown = std::numeric_limits<int64_t>::max() / 4;

/// The number after \p key in a "Key:   123 kB" file (bytes), or -1.
int64_t procField(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, key.size(), key) == 0) {
      std::istringstream ss(line.substr(key.size()));
      int64_t v = -1;
      std::string unit;
      ss >> v >> unit;
      return unit == "kB" ? v * 1024 : v;
    }
  return -1;
}

/// A single number in a file ("max" and unreadable files give -1).
int64_t fileNumber(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (!(f >> s) || s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return -1;
  try {
    return std::stoll(s);
  } catch (...) {
    return -1;
  }
}

/// The cgroup (v2 or v1) room left: limit − usage, or -1 without a limit.
int64_t cgroupRoom() {
  // This process's cgroup path ("0::/user.slice/…" for v2).
  std::ifstream f("/proc/self/cgroup");
  std::string line, v2path;
  while (std::getline(f, line))
    if (line.rfind("0::", 0) == 0) v2path = line.substr(3);
  for (const std::string& base : {"/sys/fs/cgroup" + v2path, std::string("/sys/fs/cgroup")}) {
    const int64_t limit = fileNumber(base + "/memory.max");
    if (limit > 0) {
      const int64_t used = std::max<int64_t>(0, fileNumber(base + "/memory.current"));
      return std::max<int64_t>(0, limit - used);
    }
  }
  const int64_t limit = fileNumber("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  if (limit > 0 && limit < (int64_t(1) << 60)) {
    const int64_t used = std::max<int64_t>(0, fileNumber("/sys/fs/cgroup/memory/memory.usage_in_bytes"));
    return std::max<int64_t>(0, limit - used);
  }
  return -1;
}

int64_t intermediateSize(const LoadedModel& m) {
  for (const char* key : {"intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "n_inner", "d_ff"})
    if (m.config.has(key) && m.config.json()[key].is_number_integer()) return m.config.json()[key].get<int64_t>();
  return 4 * static_cast<int64_t>(m.model->info().hidden);
}

}  // namespace

int64_t availableMemory() {
  int64_t room = kUnknown;
  const int64_t memAvailable = procField("/proc/meminfo", "MemAvailable:");
  if (memAvailable > 0) room = std::min(room, memAvailable);
  const int64_t cg = cgroupRoom();
  if (cg >= 0) room = std::min(room, cg);
  struct rlimit rl {};
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const int64_t vm = std::max<int64_t>(0, procField("/proc/self/status", "VmSize:"));
    room = std::min(room, std::max<int64_t>(0, static_cast<int64_t>(rl.rlim_cur) - vm));
  }
  if (room >= kUnknown) return room;
  const int64_t margin = std::max<int64_t>(int64_t(256) << 20, room / 20);
  return std::max<int64_t>(0, room - margin);
}

int64_t parseMemorySize(const std::string& text, const std::string& option) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (!s.empty() && s.back() == 'B') s.pop_back();
  if (!s.empty() && s.back() == 'I') s.pop_back();  // "GiB"
  double factor = 1;
  if (!s.empty() && std::string("KMGT").find(s.back()) != std::string::npos) {
    factor = std::pow(1024.0, 1 + static_cast<int>(std::string("KMGT").find(s.back())));
    s.pop_back();
  }
  double v = -1;
  size_t used = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    used = 0;
  }
  if (s.empty() || used != s.size() || !(v > 0) || !std::isfinite(v) || v * factor > 1e18)
    throw InputError("option " + option + ": '" + text + "' is not a memory size (expected e.g. 8G, 512M or bytes)");
  return static_cast<int64_t>(v * factor);
}

std::string formatGigabytes(int64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string MemoryEstimate::describe(CaptureKind kind) const {
  return formatGigabytes(total()) + " (weights " + formatGigabytes(weights) + ", activations " +
         formatGigabytes(activations) + ", " + (kind == CaptureKind::QueryKey ? "queries/keys " : "probabilities ") +
         formatGigabytes(store) + ")";
}

int64_t estimateWeightBytes(const std::string& dir, const std::string& deviceSpec, const std::string& dtypeSpec) {
  namespace fs = std::filesystem;
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool weights = (name.rfind("model", 0) == 0 && e.path().extension() == ".safetensors") ||
                         (name.rfind("pytorch_model", 0) == 0 && e.path().extension() == ".bin");
    if (weights && e.is_regular_file(ec)) bytes += static_cast<int64_t>(e.file_size(ec));
  }
  // 16-bit weights become float32 on the CPU ("auto") or when float32 is asked for.
  std::string stored;
  try {
    stored = ModelConfig::load(dir).optString("torch_dtype", "");
  } catch (const std::exception&) {
  }
  const bool sixteen = stored == "bfloat16" || stored == "float16";
  const bool cpu = deviceSpec == "cpu" || deviceSpec == "auto";
  if (sixteen && (dtypeSpec == "float32" || (dtypeSpec == "auto" && cpu))) bytes *= 2;
  return bytes;
}

int64_t allLogitsBytes(const LoadedModel& m, const PreparedInput& input) {
  const ModelInfo& info = m.model->info();
  if (info.head != "lm" && info.head != "mlm") return 0;
  int64_t T = 1;
  for (const auto& stack : info.stacks) T = std::max<int64_t>(T, static_cast<int64_t>(stackLabels(input, stack).first.size()));
  return T * std::max(1, info.vocab) * 4;
}

MemoryEstimate estimateRun(const LoadedModel& m, const PreparedInput& input, const CaptureSelection& selection,
                           bool lastLogitsOnly, bool withVariant) {
  const ModelInfo& info = m.model->info();
  MemoryEstimate e;
  const int64_t elem = info.computeDtype == "F32" ? 4 : 2;
  e.weights = info.parameters * elem;
  const int64_t H = std::max(1, info.hidden), heads = std::max(1, info.heads);
  const int64_t kvHeads = std::max(1, info.kvHeads > 0 ? info.kvHeads : info.heads);
  const int64_t d = H / heads, I = intermediateSize(m), V = std::max(1, info.vocab);
  const int64_t layers = selection.layers.empty() ? info.layers : static_cast<int64_t>(selection.layers.size());
  const int64_t keptHeads = selection.heads.empty() ? heads : static_cast<int64_t>(selection.heads.size());
  int64_t longest = 1, attentionTransient = 0;
  for (const auto& stack : info.stacks) {
    const auto [q, k] = stackLabels(input, stack);
    const int64_t tq = std::max<size_t>(1, q.size()), tk = std::max<size_t>(1, k.size());
    longest = std::max({longest, tq, tk});
    if (selection.kind == CaptureKind::Probabilities) e.store += layers * keptHeads * tq * tk * 4;
    else e.store += layers * ((keptHeads * tq * d + kvHeads * tk * d) * 4 + keptHeads * tq * 8);  // lse is float64
    // A variant's dense path holds one layer's scores twice (per head, then stacked) and its masks; the chunked
    // path a few [block, k] tensors of one head (kept probabilities are written straight into the store).
    if (withVariant)
      attentionTransient = std::max(attentionTransient, 2 * heads * tq * tk * 4 + 2 * tq * tk);
    else
      attentionTransient = std::max<int64_t>(attentionTransient, 4 * (int64_t(1) << 22) * 4);
  }
  // One layer's hidden-sized tensors (residual, norm, q, k, v, merged heads, projection…) and MLP tensors, the
  // hidden states handed between layers, and the logits of every position (kept as the output).
  const int64_t T = longest;
  e.activations = (12 * T * H + 3 * T * I) * elem + attentionTransient;
  if (info.head == "lm" || info.head == "mlm") e.activations += 2 * (lastLogitsOnly && info.head == "lm" ? 1 : T) * V * 4;
  return e;
}

CaptureKind autoStoreKind(const MemoryEstimate& probabilities, int64_t budget, bool plainAttention, int keptCopies) {
  if (!plainAttention) return CaptureKind::Probabilities;
  const int64_t need = probabilities.total() + static_cast<int64_t>(keptCopies) * probabilities.store;
  return need <= budget ? CaptureKind::Probabilities : CaptureKind::QueryKey;
}

void checkFits(const MemoryEstimate& estimate, CaptureKind kind, int64_t budget, const std::string& budgetSource) {
  if (estimate.total() <= budget) return;
  std::string hint;
  if (kind == CaptureKind::Probabilities && estimate.store > estimate.total() / 4)
    hint = "; storing queries and keys instead of probabilities keeps the capture linear in the length";
  else
    hint = "; capture fewer layers or heads, or use a shorter input";
  throw OutOfMemoryError("this run needs about " + estimate.describe(kind) + " but the memory budget is " +
                         formatGigabytes(budget) + " (" + budgetSource + ")" + hint);
}

}  // namespace attnscope
