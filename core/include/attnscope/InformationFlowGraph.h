#pragma once
/// \file InformationFlowGraph.h
/// The information-flow graph of Ferrando & Voita 2024 ("Information Flow Routes", as in Meta's LLM
/// Transparency Tool): for a chosen position, the routes through which the residual stream at the top was
/// built. Every layer is two steps — attention (the residual plus, for each source position j, Σ_h A^h_ij ·
/// v^h_j W_O^h) and the MLP — and each component's importance for the sum y it enters is its proximity max(0,
/// ‖y‖₁ − ‖y − z‖₁), normalised over the components of y. Starting from the chosen position at the top and
/// going down, only edges at or above a threshold are kept. Plain types only (no torch header), so the GUI
/// can hold the result.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace attnscope {

struct LoadedModel;
struct PreparedInput;

/// One edge of the graph. Levels: 2l = the residual stream entering layer l, 2l + 1 = after layer l's
/// attention, 2L = the output; an edge goes from level `fromLevel` (below) to `toLevel` = fromLevel + 1.
struct FlowEdge {
  /// "attention" (source position → position, level 2l → 2l + 1), "residual" (same position, either step) or
  /// "mlp" (the MLP block's write at a position, level 2l + 1 → 2l + 2).
  std::string kind;
  int layer = 0;
  int fromLevel = 0, toLevel = 0;
  int64_t from = 0, to = 0;  ///< positions
  double weight = 0;         ///< the component's proximity importance in the sum it enters (0..1)
  /// Attention edges: each head's own importance (its share A^h_ij · v^h_j W_O^h scored like a component),
  /// largest first.
  std::vector<std::pair<int, double>> heads;
};

/// The graph for one position.
struct InformationFlowGraph {
  std::string model;
  int64_t position = 0;                ///< the position whose top residual is traced
  std::vector<std::string> positions;  ///< labels of every position
  int layers = 0;
  double threshold = 0;
  std::vector<FlowEdge> edges;  ///< every edge at or above the threshold that is reached from the top node
};

/// The information-flow graph of \p position (−1 = the last for causal models, else the first) of \p input,
/// keeping edges whose importance is at least \p threshold (0..1). For models that report their residual writes
/// (Model::residualForm() not None), over their input stack (Model::inputStack(): an encoder–decoder model's
/// encoder); in post-norm models (BERT, KWT, BART) each step's LayerNorm is linearised at the row's actual sum, as
/// ALTI does, so the parts are compared with the normalised output. Throws InputError for other
/// models, a position outside the input or a threshold outside (0, 1].
InformationFlowGraph informationFlowGraph(LoadedModel& m, const PreparedInput& input, int64_t position = -1,
                                          double threshold = 0.02);

/// ALTI (Ferrando et al. 2022, "Measuring the mixing of contextual information in the transformer") over the same
/// decomposition: in every layer, each position's attention-step sum y_i = x_i + Σ_j c_ij + b split into one
/// component per source position j (c_ij, with the residual x_i added to c_ii), each scored by its proximity
/// max(0, ‖y_i‖₁ − ‖y_i − z‖₁) and normalised per row (the bias is in y but is nobody's component); in post-norm
/// models y_i is the LayerNorm's output and each component goes through the norm linearised at the row's sum
/// ((z − mean z) / σ(sum) ⊙ γ; β is nobody's), as the paper does for BERT. The layers' matrices rolled out (the
/// first layer applied first). Returns row \p position (−1 = the last for causal models, else the first) of the
/// product:
/// how much that position's final representation draws on each input position, summing to 1. Same models as
/// informationFlowGraph().
std::vector<double> altiAttribution(LoadedModel& m, const PreparedInput& input, int64_t position = -1);

/// The graph \p graph would have been at the higher \p threshold: its edges of at least that weight that are
/// reached from the top node through such edges (the importances do not depend on the threshold, so this is
/// exact). Lets a view move the threshold without recomputing.
InformationFlowGraph withThreshold(const InformationFlowGraph& graph, double threshold);

/// The CLI's graph JSON: {"method": "flow-graph", "model", "position", "token", "positions", "layers",
/// "threshold", "edges": [{"kind", "layer", "from_level", "from", "to_level", "to", "weight", "heads":
/// [{"head", "weight"}]}]}.
nlohmann::json toJson(const InformationFlowGraph& graph);

}  // namespace attnscope
