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
#include "attnscope/QueryKeyLayer.h"
#include "attnscope/Variant.h"

namespace attnscope {

/// What a capture keeps of each attention computation.
enum class CaptureKind {
  Probabilities,  ///< [heads, q, k] float32 (heads·T² floats per layer)
  QueryKey,       ///< queries, keys and row log-sum-exp (QueryKeyLayer): linear in T, any tile on demand
};

/// Which layers and heads to keep (empty set = all), and in which kind.
struct CaptureSelection {
  std::set<int> layers;
  std::set<int> heads;
  CaptureKind kind = CaptureKind::Probabilities;
  bool wants(int layer) const { return layers.empty() || layers.count(layer) != 0; }
};

/// Parses a whole non-negative integer ("12"); false (and \p value untouched) for anything else.
bool parseNonNegativeInt(const std::string& text, int64_t* value);

/// Parses "0,2-5" (or "all" / "") into a set; throws InputError naming \p option on bad syntax.
std::set<int> parseIndexList(const std::string& text, const std::string& option);

/// Cancellation and progress for one run; shared with the thread that started it.
struct RunControl {
  std::atomic<bool> cancel{false};
  /// Called after every attention computation with (done, total) when total is known.
  std::function<void(int done, int total)> progress;
  int total = 0;
  int done = 0;
  /// Called on the running thread right after a layer's attention was recorded (not for rows appended by
  /// incremental decoding), with the capture holding every layer recorded so far — so a caller can show the first
  /// layers before the forward ends. Read the capture only inside the call; the run goes on when it returns.
  std::function<void(const class AttentionCapture& capture)> layerCaptured;
};

/// Records attention probabilities at the chokepoint. Also reports progress and
/// throws CancelledError when RunControl::cancel is set.
class AttentionCapture : public AttentionHook {
 public:
  explicit AttentionCapture(CaptureSelection selection = {}, RunControl* control = nullptr)
      : m_selection(std::move(selection)), m_control(control) {}

  bool wantsProbabilities(const AttentionSite& site) const override {
    return m_selection.kind == CaptureKind::Probabilities && m_selection.wants(site.layer);
  }
  bool wantsQueryKey(const AttentionSite& site) const override {
    return m_selection.kind == CaptureKind::QueryKey && m_selection.wants(site.layer);
  }
  void onQueryKey(const AttentionSite& site, QueryKeyLayer& layer) override;
  bool wantsCost() const override { return m_recordOutputs; }
  void onProbabilities(const AttentionSite& site, at::Tensor& probs, int64_t queryOffset) override;
  void onHeadOutputs(const AttentionSite& site, const at::Tensor& out, int64_t queryOffset) override;
  void onLayerOutput(const AttentionSite& site, const at::Tensor& hidden) override;
  void onCost(const AttentionSite& site, const AttentionCost& cost) override;
  void onSinkMass(const AttentionSite& site, const at::Tensor& mass, int64_t queryOffset) override;
  void onRouting(const AttentionSite& site, const RoutingRecord& routing, int64_t queryOffset) override;

  /// Also record per-head outputs, layer outputs and the analytic attention cost (comparisons).
  void setRecordOutputs(bool on) { m_recordOutputs = on; }
  /// Per-head attention outputs of (stack, layer): [heads, q, head_dim] float32 CPU (all heads).
  const std::map<std::pair<std::string, int>, at::Tensor>& headOutputs() const { return m_headOutputs; }
  /// Hidden state after each layer: [T, hidden] float32 CPU.
  const std::map<std::pair<std::string, int>, at::Tensor>& layerOutputs() const { return m_layerOutputs; }
  /// Sum of the analytic cost of every attention call of the run.
  const AttentionCost& cost() const { return m_cost; }

  /// Recorded probabilities of (stack, layer): [selected heads, q, k] float32 on the CPU.
  /// Rows added by incremental decoding are appended; keys beyond a row's step are zero.
  const std::map<std::pair<std::string, int>, at::Tensor>& records() const { return m_records; }
  /// Recorded queries/keys/lse of (stack, layer) (CaptureKind::QueryKey), on the CPU, selected heads only.
  const std::map<std::pair<std::string, int>, QueryKeyLayer>& queryKeys() const { return m_queryKeys; }
  at::Tensor get(const std::string& stack, int layer) const;
  /// Learned-sink probability of (stack, layer): [selected heads, q] float32 CPU (families with sinks only); rows
  /// added by incremental decoding are appended.
  const std::map<std::pair<std::string, int>, at::Tensor>& sinkMass() const { return m_sinkMass; }
  /// Router decisions of the MoE layers of (stack, layer), on the CPU; incremental steps append their tokens.
  const std::map<std::pair<std::string, int>, RoutingRecord>& routing() const { return m_routing; }
  /// The head indices kept (all heads when the selection had none).
  std::vector<int> heads(int totalHeads) const;
  const CaptureSelection& selection() const { return m_selection; }
  void clear() {
    m_records.clear();
    m_queryKeys.clear();
    m_headOutputs.clear();
    m_layerOutputs.clear();
    m_sinkMass.clear();
    m_routing.clear();
    m_cost = {};
  }

 private:
  CaptureSelection m_selection;
  RunControl* m_control;
  std::map<std::pair<std::string, int>, at::Tensor> m_records;
  std::map<std::pair<std::string, int>, QueryKeyLayer> m_queryKeys;
  bool m_recordOutputs = false;
  std::map<std::pair<std::string, int>, at::Tensor> m_headOutputs;
  std::map<std::pair<std::string, int>, at::Tensor> m_layerOutputs;
  AttentionCost m_cost;
  std::map<std::pair<std::string, int>, at::Tensor> m_sinkMass;
  std::map<std::pair<std::string, int>, RoutingRecord> m_routing;
};

}  // namespace attnscope
