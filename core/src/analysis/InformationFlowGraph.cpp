#include "attnscope/InformationFlowGraph.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "attnscope/Attention.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/MemoryBudget.h"

namespace attnscope {

namespace {
/// Keeps what the graph is made of, for one stack: the embeddings, every layer's attention probabilities,
/// values, attention and MLP writes, and the residual each layer hands on (whole [T, ...] tensors: the graph
/// visits any row).
struct FlowRecorder : AttentionHook {
  explicit FlowRecorder(std::string stack) : stack(std::move(stack)) {}
  std::string stack;
  int layers = 0;                                           ///< of the stack, once recorded
  std::vector<std::string> labels;                          ///< of the stack's positions
  at::Tensor embed;                                         ///< [T, H]
  std::map<int, at::Tensor> probs, values, attn, mlp, out;  ///< [heads, T, T], [kv, T, d], [T, H] ×3
  bool wantsProbabilities(const AttentionSite& site) const override { return site.stack == stack; }
  void onProbabilities(const AttentionSite& site, at::Tensor& p, int64_t) override {
    if (site.stack == stack) probs[site.layer] = p;
  }
  void onValues(const AttentionSite& site, const at::Tensor& v) override {
    if (site.stack == stack) values[site.layer] = v;
  }
  void onResidualWrite(const AttentionSite& site, ResidualPart part, const at::Tensor& write) override {
    if (site.stack != stack) return;
    if (part == ResidualPart::Embeddings)
      embed = write;
    else
      (part == ResidualPart::Attention ? attn : mlp)[site.layer] = write;
  }
  void onLayerOutput(const AttentionSite& site, const at::Tensor& hidden) override {
    if (site.stack == stack) out[site.layer] = hidden;
  }
};

/// Proximity of each row of \p parts ([N, H]) to their sum \p y ([H]): max(0, ‖y‖₁ − ‖y − z‖₁), float64 [N].
at::Tensor proximity(const at::Tensor& y, const at::Tensor& parts) {
  return at::clamp_min(y.abs().sum() - (y.unsqueeze(0) - parts).abs().sum(-1), 0.0);  // [N]
}

/// What follows one residual sum (a layer's attention step or MLP step): nothing in pre-norm models; in post-norm
/// ones the LayerNorm, which is linear once its σ is frozen at the row's actual sum (Ferrando et al. 2022, §3): each
/// part z becomes (z − mean z) / σ ⊙ γ, the sum becomes LN(sum), and β is in the sum but nobody's part.
struct StepNorm {
  bool post = false;
  at::Tensor weight, bias;  ///< float64 [H]
  double eps = 0;
  StepNorm(const Model& model, int layer, ResidualPart part) {
    if (model.residualForm() != ResidualForm::PostNorm) return;
    const NormParameters n = model.postNorm(layer, part);
    post = true;
    weight = n.weight.to(at::kCPU, at::kDouble);
    bias = n.bias.to(at::kCPU, at::kDouble);
    eps = n.eps;
  }
  /// The step's output for the pre-norm sum \p sum ([H]).
  at::Tensor output(const at::Tensor& sum) const {
    if (!post) return sum;
    return (sum - sum.mean()) / sigma(sum) * weight + bias;  // [H]
  }
  /// The parts \p parts ([N, H]) of \p sum as they reach the output.
  at::Tensor parts(const at::Tensor& parts, const at::Tensor& sum) const {
    if (!post) return parts;
    return (parts - parts.mean(-1, true)) / sigma(sum) * weight;  // [N, H]
  }

 private:
  at::Tensor sigma(const at::Tensor& sum) const {
    return (sum.var(/*unbiased=*/false) + eps).sqrt();  // []
  }
};
}  // namespace

namespace {
/// Refuses, before the forward, an analysis whose recorded parts and float64 working tensors would not fit in
/// what this process can still allocate: every layer's probabilities [heads, T, T] and values, its residual writes
/// [T, H] (float32), then one layer at a time in float64 its probabilities, its per-head source writes
/// [heads, T, H] and one row's parts.
void checkFlowFits(const ModelInfo& info, int64_t T, const std::string& what) {
  const int64_t heads = info.heads, H = info.hidden, L = info.layers;
  const int64_t d = heads > 0 ? H / heads : 0;
  const int64_t recorded = L * (heads * T * T + 4 * T * H + std::max<int64_t>(info.kvHeads, 1) * T * d) * 4;
  const int64_t working = (heads * T * T + 3 * heads * T * H + 2 * T * T) * 8;
  const int64_t need = recorded + working, room = availableMemory();
  if (need > room)
    throw OutOfMemoryError(what + " of " + std::to_string(T) + " positions needs about " + formatGigabytes(need) +
                           " (every layer's [" + std::to_string(heads) + ", " + std::to_string(T) + ", " +
                           std::to_string(T) + "] attention and its source writes); this machine can give " +
                           formatGigabytes(room) + " now — use a shorter input");
}

/// Checks the model, position and memory, runs the forward with a FlowRecorder, and checks that everything was
/// reported.
std::unique_ptr<FlowRecorder> recordFlow(LoadedModel& m, const PreparedInput& input, int64_t* position,
                                         const std::string& what) {
  const Model& model = *m.model;
  if (model.residualForm() == ResidualForm::None)
    throw InputError(what + " needs a model that reports what each layer writes to its residual stream; the " +
                     model.info().modelType + " family does not");
  const std::string stack = model.inputStack();
  std::vector<std::string> labels = stackLabels(input, stack).first;
  const int64_t T = static_cast<int64_t>(labels.size());
  if (*position == -1 && !model.info().causal) *position = 0;  // an encoder's summary position ([CLS])
  if (*position < 0) *position += T;
  if (*position < 0 || *position >= T)
    throw InputError("position " + std::to_string(*position) + " is outside the input (0.." +
                     std::to_string(T - 1) + ")");
  checkFlowFits(model.info(), T, what);
  auto rec = std::make_unique<FlowRecorder>(stack);
  rec->labels = std::move(labels);
  c10::InferenceMode guard;
  ForwardOptions options;
  options.hook = rec.get();
  m.model->forward(input.tensors, options);
  const int L = rec->layers = static_cast<int>(rec->out.size());
  if (!rec->embed.defined() || L == 0 || rec->out.rbegin()->first != L - 1 ||
      static_cast<int>(rec->probs.size()) != L || static_cast<int>(rec->values.size()) != L ||
      static_cast<int>(rec->mlp.size()) != L)
    throw AttnScopeError("internal: the " + model.info().modelType + " model did not report every part of " +
                         what);
  return rec;
}

/// Each head's write of every source position in layer \p l: v^h_j W_O^h, float64 [heads, T, H].
at::Tensor sourceWrites(const Model& model, const FlowRecorder& rec, int l) {
  const int64_t heads = rec.probs.at(l).size(0);
  at::Tensor v = rec.values.at(l);                                        // [kv, T, d]
  if (v.size(0) != heads) v = v.repeat_interleave(heads / v.size(0), 0);  // [heads, T, d]
  return model.headWrites(l, v).to(at::kDouble);                          // [heads, T, H]
}
}  // namespace

std::vector<double> altiAttribution(LoadedModel& m, const PreparedInput& input, int64_t position) {
  const auto rec = recordFlow(m, input, &position, "ALTI");
  c10::InferenceMode guard;
  const Model& model = *m.model;
  const int L = rec->layers;
  const int64_t T = rec->probs.at(0).size(-1);
  at::Tensor rollout = at::eye(T, at::TensorOptions().dtype(at::kDouble));  // [T, T]
  for (int l = 0; l < L; ++l) {
    const at::Tensor in = (l == 0 ? rec->embed : rec->out.at(l - 1)).to(at::kDouble);  // [T, H]
    const at::Tensor attn = rec->attn.at(l).to(at::kDouble);                           // [T, H]
    const at::Tensor probs = rec->probs.at(l).to(at::kDouble);                         // [heads, T, T]
    const at::Tensor vo = sourceWrites(model, *rec, l);                                // [heads, T, H]
    const StepNorm norm(model, l, ResidualPart::Attention);
    at::Tensor mix = at::zeros({T, T}, at::TensorOptions().dtype(at::kDouble));  // [T, T]
    for (int64_t i = 0; i < T; ++i) {
      at::Tensor parts = (probs.select(1, i).unsqueeze(-1) * vo).sum(0);  // [T, H]
      parts[i] += in[i];
      const at::Tensor sum = in[i] + attn[i];                                         // [H]
      const at::Tensor imp = proximity(norm.output(sum), norm.parts(parts, sum));  // [T]
      const double total = imp.sum().item<double>();
      if (total > 0)
        mix[i] = imp / total;
      else
        mix[i][i] = 1.0;  // nothing to score: the position keeps itself
    }
    rollout = at::matmul(mix, rollout);  // [T, T]
  }
  const at::Tensor row = rollout[position].contiguous();  // [T]
  return std::vector<double>(row.data_ptr<double>(), row.data_ptr<double>() + T);
}

InformationFlowGraph informationFlowGraph(LoadedModel& m, const PreparedInput& input, int64_t position,
                                          double threshold) {
  if (!(threshold > 0 && threshold <= 1))
    throw InputError("the threshold must be in (0, 1] (got " + std::to_string(threshold) + ")");
  const auto recorded = recordFlow(m, input, &position, "the information-flow graph");
  const FlowRecorder& rec = *recorded;
  c10::InferenceMode guard;
  const Model& model = *m.model;
  const int L = rec.layers;
  const int64_t T = static_cast<int64_t>(rec.labels.size());
  InformationFlowGraph g;
  g.model = model.info().modelType;
  g.position = position;
  g.positions = rec.labels;
  g.layers = L;
  g.threshold = threshold;
  std::set<int64_t> above = {position};  // nodes reached at level 2l + 2
  at::Tensor firstBias;  // the attention output bias seen at the first visited node of a layer
  for (int l = L - 1; l >= 0; --l) {
    const at::Tensor in = (l == 0 ? rec.embed : rec.out.at(l - 1)).to(at::kDouble);  // [T, H]
    const at::Tensor attn = rec.attn.at(l).to(at::kDouble);                          // [T, H]
    const at::Tensor mlp = rec.mlp.at(l).to(at::kDouble);                            // [T, H]
    // The MLP step: out_i = mid_i + mlp_i (post-norm: both through the layer's second norm; mid_i through its first).
    const StepNorm attnNorm(model, l, ResidualPart::Attention), mlpNorm(model, l, ResidualPart::Mlp);
    std::set<int64_t> mid;
    for (int64_t i : above) {
      const at::Tensor midRow = attnNorm.output(in[i] + attn[i]);                     // [H]
      const at::Tensor sum = midRow + mlp[i];                                         // [H]
      const at::Tensor parts = at::stack({midRow, mlp[i]});                           // [2, H]
      const at::Tensor imp = proximity(mlpNorm.output(sum), mlpNorm.parts(parts, sum));  // [2]
      const double total = imp.sum().item<double>();
      if (!(total > 0)) continue;
      const double wResidual = imp[0].item<double>() / total, wMlp = imp[1].item<double>() / total;
      if (wResidual >= threshold)
        g.edges.push_back({"residual", l, 2 * l + 1, 2 * l + 2, i, i, wResidual, {}});
      if (wMlp >= threshold) g.edges.push_back({"mlp", l, 2 * l + 1, 2 * l + 2, i, i, wMlp, {}});
      if (wResidual >= threshold || wMlp >= threshold) mid.insert(i);
    }
    if (mid.empty()) break;
    // The attention step: mid_i = in_i + Σ_j Σ_h A^h_ij · v^h_j W_O^h + b_O.
    const at::Tensor probs = rec.probs.at(l).to(at::kDouble);  // [heads, T, T]
    const int64_t heads = probs.size(0);
    at::Tensor v = rec.values.at(l);                                        // [kv, T, d]
    if (v.size(0) != heads) v = v.repeat_interleave(heads / v.size(0), 0);  // [heads, T, d]
    const at::Tensor vo = model.headWrites(l, v).to(at::kDouble);           // [heads, T, H]
    std::set<int64_t> below;
    firstBias = at::Tensor();
    for (int64_t i : mid) {
      const at::Tensor a = probs.select(1, i);             // [heads, T]
      const at::Tensor perHead = a.unsqueeze(-1) * vo;     // [heads, T, H]
      const at::Tensor perSource = perHead.sum(0);         // [T, H]
      const at::Tensor bias = attn[i] - perSource.sum(0);  // [H]
      if (!firstBias.defined()) firstBias = bias;
      const double drift = (bias - firstBias).abs().max().item<double>();
      if (!(drift <= 1e-3 * (1.0 + attn.abs().max().item<double>())))
        throw AttnScopeError("internal: the " + model.info().modelType +
                             " model's per-head writes miss its attention "
                             "output by " +
                             std::to_string(drift) + " at layer " + std::to_string(l));
      const at::Tensor sum = in[i] + attn[i];                                                // [H]
      const at::Tensor y = attnNorm.output(sum);                                             // [H]
      const at::Tensor parts = at::cat({in[i].unsqueeze(0), perSource, bias.unsqueeze(0)});  // [T + 2, H]
      const at::Tensor imp = proximity(y, attnNorm.parts(parts, sum));                       // [T + 2]
      const double total = imp.sum().item<double>();
      if (!(total > 0)) continue;
      const double wResidual = imp[0].item<double>() / total;
      if (wResidual >= threshold) {
        g.edges.push_back({"residual", l, 2 * l, 2 * l + 1, i, i, wResidual, {}});
        below.insert(i);
      }
      const at::Tensor headImp =
          proximity(y, attnNorm.parts(perHead.reshape({-1, y.size(0)}), sum)).view({heads, T}) / total;  // [heads, T]
      for (int64_t j = 0; j < T; ++j) {
        const double w = imp[1 + j].item<double>() / total;
        if (w < threshold) continue;
        FlowEdge e{"attention", l, 2 * l, 2 * l + 1, j, i, w, {}};
        for (int64_t h = 0; h < heads; ++h)
          e.heads.emplace_back(static_cast<int>(h), headImp[h][j].item<double>());
        std::stable_sort(e.heads.begin(), e.heads.end(),
                         [](const auto& x, const auto& y) { return x.second > y.second; });
        g.edges.push_back(std::move(e));
        below.insert(j);
      }
    }
    above = std::move(below);
    if (above.empty()) break;
  }
  return g;
}

InformationFlowGraph withThreshold(const InformationFlowGraph& graph, double threshold) {
  InformationFlowGraph out = graph;
  out.threshold = std::max(threshold, graph.threshold);
  out.edges.clear();
  std::set<std::pair<int, int64_t>> reached = {{2 * graph.layers, graph.position}};
  // Edges are stored top-down (every edge after the edges that reach its upper node), so one pass suffices.
  for (const FlowEdge& e : graph.edges) {
    if (e.weight < out.threshold || !reached.count({e.toLevel, e.to})) continue;
    out.edges.push_back(e);
    reached.insert({e.fromLevel, e.from});
  }
  return out;
}

nlohmann::json toJson(const InformationFlowGraph& g) {
  nlohmann::json edges = nlohmann::json::array();
  for (const FlowEdge& e : g.edges) {
    nlohmann::json heads = nlohmann::json::array();
    for (const auto& [h, w] : e.heads) heads.push_back({{"head", h}, {"weight", w}});
    edges.push_back({{"kind", e.kind},
                     {"layer", e.layer},
                     {"from_level", e.fromLevel},
                     {"from", e.from},
                     {"to_level", e.toLevel},
                     {"to", e.to},
                     {"weight", e.weight},
                     {"heads", heads}});
  }
  return {{"method", "flow-graph"},
          {"model", g.model},
          {"position", g.position},
          {"token", g.position < static_cast<int64_t>(g.positions.size())
                        ? g.positions[static_cast<size_t>(g.position)]
                        : std::string()},
          {"positions", g.positions},
          {"layers", g.layers},
          {"threshold", g.threshold},
          {"edges", edges}};
}

}  // namespace attnscope
