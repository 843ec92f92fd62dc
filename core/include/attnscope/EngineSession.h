#pragma once
/// \file EngineSession.h
/// A Qt-safe facade over the engine: plain C++ types only, no LibTorch headers,
/// so GUI code (which includes Qt) can use it. One session = one loaded model.
/// Not thread-safe: use a session from one thread at a time (the GUI's worker).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace attnscope {

/// The model card.
struct ModelSummary {
  std::string dir, family, architecture, modality, dtype, device, head, tokenizer;
  int layers = 0, heads = 0, kvHeads = 0, hidden = 0, vocab = 0, maxPositions = 0;
  int64_t parameters = 0;
  bool causal = false;
  std::vector<std::string> labels;
};

/// Attention of one (stack, layer): row-major [heads, q, k] float32.
struct AttentionMatrix {
  std::string stack;
  int layer = 0;
  std::vector<int> headIndex;  ///< model head index of each stored head
  int heads = 0, q = 0, k = 0;
  std::vector<float> data;
  float at(int h, int i, int j) const {
    return data[(static_cast<size_t>(h) * q + i) * k + j];
  }
};

/// Everything a view needs from one run.
struct CaptureResult {
  std::vector<std::string> queryLabels, keyLabels;
  std::vector<AttentionMatrix> layers;  ///< ordered by (stack, layer)
  std::string predictionJson;           ///< the engine's prediction as JSON
  std::string predictionText;           ///< one line for the status bar
  double seconds = 0;
  const AttentionMatrix* find(const std::string& stack, int layer) const {
    for (const auto& m : layers)
      if (m.stack == stack && m.layer == layer) return &m;
    return nullptr;
  }
};

/// One loaded model. Errors are thrown as attnscope::AttnScopeError subclasses (Errors.h).
class EngineSession {
 public:
  /// Loads \p dir on \p device ("auto", "cpu", "cuda:N").
  static std::unique_ptr<EngineSession> open(const std::string& dir, const std::string& device = "auto");
  ~EngineSession();

  const ModelSummary& summary() const;
  /// Whether the model accepts a second text segment (sentence pairs).
  bool acceptsTextPair() const;
  /// Tokenizes and runs \p text (and \p pair when \p hasPair), capturing every layer and head.
  /// \p progress(done, total) is called after every layer; when \p cancelled returns true the
  /// run stops with CancelledError.
  CaptureResult runText(const std::string& text, const std::string& pair, bool hasPair,
                        const std::function<void(int, int)>& progress = {},
                        const std::function<bool()>& cancelled = {});
  /// Saves the last run as a capture file (the CLI's run contract).
  void saveLastCapture(const std::string& path) const;

 private:
  EngineSession();
  struct Impl;
  std::unique_ptr<Impl> m;
};

}  // namespace attnscope
