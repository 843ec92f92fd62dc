// attnscope-cli flow-graph: the information-flow graph into one position (Ferrando & Voita 2024).
#include "CliCommand.h"

#include <iostream>

#include "CliFigures.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/Errors.h"
#include "attnscope/InformationFlowGraph.h"
#include "attnscope/MemoryBudget.h"

namespace attnscope::cli {
namespace {

const char* const kFlowGraphHelp =
    "usage: attnscope-cli flow-graph --model DIR (--text STR | --image PATH | --audio PATH | --inputs FILE)\n"
    "                                [--token P] [--threshold X]\n"
    "                                [--device D] [--dtype D] --out graph.json [--figure FILE.pdf|svg|png] "
    "[--dpi N]\n"
    "\n"
    "The information-flow graph (Ferrando & Voita 2024, as in LLM Transparency Tool) into position P "
    "(default: the\n"
    "last for decoders, the first ([CLS]) otherwise; negative counts from the end): each layer's attention step (the residual plus, per source "
    "position, the\n"
    "heads' A·v·W_O) and MLP step, every component scored by its proximity to the sum it enters "
    "(normalised), edges\n"
    "kept from the top down while their importance is at least X (default 0.02). Decoders, encoders, image and\n"
    "audio models (post-norm ones through each step's LayerNorm linearised at the row's sum). graph.json: {method, model, position, token, positions, layers, threshold, edges: [{kind "
    "(attention |\n"
    "residual | mlp), layer, from_level, from, to_level, to, weight, heads: [{head, weight}]}]}; level 2l is "
    "the\n"
    "residual entering layer l, 2l + 1 the residual after its attention. --figure draws the graph (positions "
    "across,\n"
    "levels upwards).\n";

int cmdFlowGraph(const Args& a) {
  const std::string out = a.require("out");
  const int64_t position = signedArg(a, "token", -1);
  double threshold = 0.02;
  if (a.has("threshold")) {
    const std::string v = a.get("threshold");
    size_t used = 0;
    try {
      threshold = std::stod(v, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != v.size() || !(threshold > 0 && threshold <= 1))
      throw InputError("--threshold must be a number in (0, 1] (got '" + v + "')");
  }
  [[maybe_unused]] const int dpi = dpiArg(a);
  const std::string figure = figureArg(a);
  auto m = guardAllocations(
      [&] { return loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto")); },
      "loading the model");
  PreparedInput in = inputFrom(*m, a);
  const InformationFlowGraph graph = guardAllocations(
      [&] { return informationFlowGraph(*m, in, position, threshold); }, "the information-flow graph");
  writeFileAtomically(out, toJson(graph).dump(1) + "\n");
  std::cerr << "wrote " << out << ": " << graph.edges.size() << " edges into position " << graph.position
            << "\n";
#ifdef ATTNSCOPE_CLI_FIGURES
  drawFigure(figure, [&] { renderFlowGraphFigureHeadless(graph, figure, dpi); });
#endif
  return 0;
}

}  // namespace

const CliCommand kFlowGraphCommand{"flow-graph", "the information-flow graph into one position (Ferrando & Voita 2024)", kFlowGraphHelp, {"model", "text", "text-pair", "inputs", "image", "audio", "offset", "token", "threshold", "device", "dtype", "out", "figure", "dpi"}, {}, cmdFlowGraph, nullptr};

}  // namespace attnscope::cli
