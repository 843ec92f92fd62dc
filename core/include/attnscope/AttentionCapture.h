#pragma once
/// \file AttentionCapture.h
/// The capture record: per stack, per layer, [heads, q, k] float32 attention
/// probabilities, limited to chosen layers and heads so memory stays bounded.

#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "attnscope/Attention.h"

namespace attnscope {

/// Which layers and heads to keep (empty set = all).
struct CaptureSelection {
  std::set<int> layers;
  std::set<int> heads;
  bool wants(int layer) const { return layers.empty() || layers.count(layer) != 0; }
};

/// Parses "0,2-5" (or "all" / "") into a set; throws InputError naming \p option on bad syntax.
std::set<int> parseIndexList(const std::string& text, const std::string& option);

/// Cancellation and progress for one run; shared with the thread that started it.
struct RunControl {
  std::atomic<bool> cancel{false};
  /// Called after every attention computation with (done, total) when total is known.
  std::function<void(int done, int total)> progress;
  int total = 0;
  int done = 0;
};

/// Records attention probabilities at the chokepoint. Also reports progress and
/// throws CancelledError when RunControl::cancel is set.
class AttentionCapture : public AttentionHook {
 public:
  explicit AttentionCapture(CaptureSelection selection = {}, RunControl* control = nullptr)
      : m_selection(std::move(selection)), m_control(control) {}

  void onProbabilities(const AttentionSite& site, at::Tensor& probs, int64_t queryOffset) override;

  /// Recorded probabilities of (stack, layer): [selected heads, q, k] float32 on the CPU.
  /// Rows added by incremental decoding are appended; keys beyond a row's step are zero.
  const std::map<std::pair<std::string, int>, at::Tensor>& records() const { return m_records; }
  at::Tensor get(const std::string& stack, int layer) const;
  /// The head indices kept (all heads when the selection had none).
  std::vector<int> heads(int totalHeads) const;
  const CaptureSelection& selection() const { return m_selection; }
  void clear() { m_records.clear(); }

 private:
  CaptureSelection m_selection;
  RunControl* m_control;
  std::map<std::pair<std::string, int>, at::Tensor> m_records;
};

}  // namespace attnscope
