#pragma once
/// \file Variant.h
/// Attention variants: alternative attention computations (pruned heads, sliding window,
/// block-sparse, coarse-to-fine, top-k, linear, …) that run at the attention chokepoint
/// (computeAttention) and therefore through the whole model: later layers see the changed
/// outputs. A variant is named by a spec string such as `window:w=64,causal`; the CLI, the GUI
/// and saved sessions all use the same strings.
///
/// Each variant lives in one file under core/src/variants/ and registers itself with one
/// RegisterVariant object (a name, the parameters it accepts and a factory).

#include <ATen/core/Tensor.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attnscope/Attention.h"

namespace attnscope {

struct LoadedModel;
struct PreparedInput;

/// Analytic cost of one attention computation (or a sum of them).
struct AttentionCost {
  double flops = 0;  ///< multiply-adds counted as 2 FLOPs; softmax as 3 per entry
  double bytes = 0;  ///< bytes of the attention state the computation must hold (scores/probabilities or the
                     ///< linear-attention summaries), float32
  AttentionCost& operator+=(const AttentionCost& o) {
    flops += o.flops;
    bytes += o.bytes;
    return *this;
  }
};

/// Cost of plain dense attention: every query scores every key.
AttentionCost denseAttentionCost(int64_t heads, int64_t tq, int64_t tk, int64_t headDim);

/// What a variant learns about one attention computation.
struct VariantCall {
  AttentionSite site;
  double scale = 1.0;
  bool causal = false;
  int64_t slidingWindow = 0;     ///< the model's own window (0 = none): keys j <= p - window are masked
  int64_t past = 0;              ///< absolute position of query row 0 (incremental decoding)
  at::Tensor keyPaddingMask;     ///< optional bool [k], true = padding
};

/// The type of a variant parameter, used to parse and validate spec strings.
enum class ParamType { Int, Double, Flag, Text, List };

/// Parsed `name:key=value,...` string. List parameters take the following bare items too
/// (`guide:tokens=3,7,bias=2`); flags are bare words (`window:w=8,causal`).
class VariantSpec {
 public:
  std::string name;
  std::string text;  ///< the full spec as written
  std::map<std::string, std::string> values;

  bool has(const std::string& key) const { return values.count(key) != 0; }
  /// Typed getters; they throw InputError naming the spec when the value is malformed.
  int64_t integer(const std::string& key, int64_t fallback) const;
  double number(const std::string& key, double fallback) const;
  bool flag(const std::string& key) const { return has(key); }
  std::string textValue(const std::string& key, const std::string& fallback) const;
  std::vector<std::string> list(const std::string& key) const;
  /// Throws InputError("variant '<spec>': <what>").
  [[noreturn]] void fail(const std::string& what) const;
};

/// An attention variant. The chokepoint calls, in order: editQK, compute (a variant that has its own
/// algorithm returns the output there; otherwise the dense path runs with editScores after the causal
/// and padding masks and editProbs after the softmax), then editOutput.
class AttentionVariant {
 public:
  virtual ~AttentionVariant() = default;
  /// The spec string this variant was made from.
  const std::string& spec() const { return m_spec; }
  /// True only for `full`: the chokepoint then runs exactly as without a variant.
  virtual bool isIdentity() const { return false; }
  /// Called once before a run with the model and the input (prune by importance ranks heads here).
  virtual void prepare(LoadedModel& model, const PreparedInput& input) {}
  /// What prepare() decided (e.g. the heads pruned and their scores), for reports; null when nothing.
  virtual nlohmann::json details() const { return nullptr; }

  /// q [heads, q, d], k [heads, k, d] (after GQA expansion), float32.
  virtual void editQK(const VariantCall& call, at::Tensor& q, at::Tensor& k) const {}
  /// Own algorithm: return [heads, q, d_v] and, when \p probs is not null, the implied row-normalised
  /// attention [heads, q, k]. Return an undefined tensor to use the dense path.
  virtual at::Tensor compute(const VariantCall& call, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             at::Tensor* probs) const {
    return {};
  }
  /// Dense path: scores [heads, q, k] (already scaled and masked with -inf); edit in place.
  virtual void editScores(const VariantCall& call, at::Tensor& scores, const at::Tensor& q,
                          const at::Tensor& k) const {}
  /// True when editScores() may leave a row with no allowed key (its softmax is then NaN and is set to 0).
  virtual bool mayEmptyRows() const { return false; }
  /// Dense path: probabilities [heads, q, k]; edit in place.
  virtual void editProbs(const VariantCall& call, at::Tensor& probs) const {}
  /// The per-head output [heads, q, d_v] (and the probabilities shown for it, may be undefined).
  virtual at::Tensor editOutput(const VariantCall& call, const at::Tensor& out, at::Tensor& probs) const {
    return out;
  }
  /// Analytic cost of this variant for one call.
  virtual AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const {
    return denseAttentionCost(q.size(0), q.size(1), k.size(1), q.size(2));
  }

 protected:
  std::string m_spec;
  friend std::unique_ptr<AttentionVariant> makeVariant(const std::string& spec);
};

/// Helper base for variants that restrict which keys each query may see. allowed() returns a bool
/// mask broadcastable to [heads, q, k] (true = may attend); the dense path masks the rest with -inf
/// and the cost counts the allowed entries only.
class MaskVariant : public AttentionVariant {
 public:
  virtual at::Tensor allowed(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const = 0;
  void editScores(const VariantCall& call, at::Tensor& scores, const at::Tensor& q,
                  const at::Tensor& k) const override;
  bool mayEmptyRows() const override { return true; }
  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override;
};

/// Bool [q, k]: true where the causal, sliding-window and padding masks of \p call forbid attention.
at::Tensor baseForbidden(const VariantCall& call, int64_t tq, int64_t tk, const c10::Device& device);

/// Absolute positions of the queries ([q], int64) and keys ([k]).
at::Tensor queryPositions(const VariantCall& call, int64_t tq, const c10::Device& device);

using VariantFactory = std::function<std::unique_ptr<AttentionVariant>(const VariantSpec&)>;

struct VariantKind {
  std::string name;
  std::string summary;  ///< one line for --help and the GUI
  std::map<std::string, ParamType> params;
  VariantFactory factory;
};

/// All registered variants, by name.
const std::map<std::string, VariantKind>& variantKinds();

/// Registers a variant kind at static-initialisation time (one line per variant file).
struct RegisterVariant {
  RegisterVariant(VariantKind kind);
};

/// Parses and validates \p spec; throws InputError naming the spec on any problem.
VariantSpec parseVariantSpec(const std::string& spec);

/// Builds the variant named by \p spec (parse + validate + construct).
std::unique_ptr<AttentionVariant> makeVariant(const std::string& spec);

}  // namespace attnscope
