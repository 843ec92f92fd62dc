// attnscope-cli info: describe a model folder.
#include "CliCommand.h"

#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "attnscope/Errors.h"

namespace attnscope::cli {
namespace {

const char* const kInfoHelp =
    "usage: attnscope-cli info --model DIR [--device auto|cpu|cuda[:N]] [--dtype D] [--json]\n"
    "\n"
    "Prints the family, modality, layers, query/kv heads, hidden size, vocabulary,\n"
    "parameter count, the weight dtype on disk and the dtype computed in of a Hugging Face model folder.\n"
    "--dtype auto|float32|bfloat16|float16: auto computes in float32 on the CPU (bf16 -> f32 is exact) and "
    "in\n"
    "the stored 16-bit dtype on CUDA; run, generate and compare take it too.\n";

std::string humanCount(int64_t n) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2);
  if (n >= 1000000000)
    os << n / 1e9 << " B";
  else if (n >= 1000000)
    os << n / 1e6 << " M";
  else if (n >= 1000)
    os << n / 1e3 << " K";
  else
    os << n;
  return os.str();
}

int cmdInfo(const Args& a) {
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  const ModelInfo& i = m->model->info();
  if (a.flag("json")) {
    nlohmann::json j = {{"family", i.modelType},
                        {"architecture", i.architecture},
                        {"modality", i.modality},
                        {"layers", i.layers},
                        {"heads", i.heads},
                        {"kv_heads", i.kvHeads},
                        {"hidden", i.hidden},
                        {"vocab", i.vocab},
                        {"max_positions", i.maxPositions},
                        {"parameters", i.parameters},
                        {"dtype", i.dtype},
                        {"compute_dtype", i.computeDtype},
                        {"device", i.device},
                        {"head", i.head},
                        {"labels", i.labels},
                        {"tokenizer", m->tokenizer ? m->tokenizer->kind() : "none"}};
    if (!m->tokenizerError.empty()) j["tokenizer_error"] = m->tokenizerError;
    if (i.attentionSinks) j["attention_sinks"] = true;
    if (i.experts > 0)
      j["experts"] = {{"experts", i.experts}, {"per_token", i.expertsPerToken}, {"layers", i.routedLayers}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model:        " << m->dir << "\n"
            << "family:       " << i.modelType << " (" << i.architecture << ")\n"
            << "modality:     " << i.modality << "\n"
            << "layers:       " << i.layers << "\n"
            << "heads:        " << i.heads << " query, " << i.kvHeads << " key/value\n"
            << "hidden size:  " << i.hidden << "\n"
            << "vocabulary:   " << i.vocab << "\n"
            << "positions:    " << i.maxPositions << "\n"
            << "parameters:   " << humanCount(i.parameters) << " (" << i.parameters << ")\n"
            << "dtype:        " << i.dtype << " on disk, computed in " << i.computeDtype << "\n"
            << "device:       " << i.device << "\n"
            << "head:         " << i.head << "\n"
            << "tokenizer:    "
            << (m->tokenizer                ? m->tokenizer->kind()
                : m->tokenizerError.empty() ? std::string("none")
                                            : "unusable (" + m->tokenizerError + "); exact inputs still run")
            << "\n";
  if (i.experts > 0) {
    std::cout << "experts:      " << i.experts << " routed, " << i.expertsPerToken << " per token, in layers";
    for (size_t n = 0; n < i.routedLayers.size(); ++n) std::cout << (n ? "," : " ") << i.routedLayers[n];
    std::cout << " (run writes router.<layer>)\n";
  }
  if (i.attentionSinks)
    std::cout << "sinks:        learned, one per head (run writes sink_probs.<layer>; rows of attentions.<layer> sum "
                 "to 1 - it)\n";
  if (!i.labels.empty()) {
    std::cout << "labels:      ";
    for (const auto& l : i.labels) std::cout << " " << l;
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

const CliCommand kInfoCommand{"info", "describe a model folder", kInfoHelp, {"model", "device", "dtype"}, {"json"}, cmdInfo, nullptr};

}  // namespace attnscope::cli
