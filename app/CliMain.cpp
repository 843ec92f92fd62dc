// attnscope-cli: batch access to the engine (info, run, generate).
// Errors go to stderr with exit code 2; --help on every command.
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "attnscope/Device.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

using namespace attnscope;

namespace {

const char* const kUsage =
    "usage: attnscope-cli <command> [options]\n"
    "\n"
    "commands:\n"
    "  info      describe a model folder\n"
    "  run       run a model on one input and save every head's attention\n"
    "  generate  greedy decoding; optionally save the attention of every step\n"
    "\n"
    "Run 'attnscope-cli <command> --help' for the options of a command.\n";

const char* const kInfoHelp =
    "usage: attnscope-cli info --model DIR [--device auto|cpu|cuda[:N]] [--json]\n"
    "\n"
    "Prints the family, modality, layers, query/kv heads, hidden size, vocabulary,\n"
    "parameter count and weight dtype of a Hugging Face model folder.\n";

const char* const kRunHelp =
    "usage: attnscope-cli run --model DIR (--text STR [--text-pair STR] | --inputs FILE.safetensors)\n"
    "                         [--device auto|cpu|cuda[:N]] [--layers 0,2-5] [--heads 0-3]\n"
    "                         [--logits all|last|none] --out capture.safetensors\n"
    "\n"
    "Runs the model once and writes a safetensors capture file:\n"
    "  attentions.<layer>   float32 [heads, q, k] attention probabilities (selected layers/heads)\n"
    "  last_hidden_state    float32 [T, hidden]\n"
    "  logits               float32 [T, vocab] (language models) or [labels] (classifiers)\n"
    "  input_ids, ...       the exact model inputs (so the file can be fed back with --inputs)\n"
    "  __metadata__         {\"attnscope\": JSON with model, family, token labels, input, prediction}\n"
    "\n"
    "--inputs feeds exact model inputs by their Hugging Face names (input_ids, token_type_ids,\n"
    "attention_mask) for bit-for-bit reproduction.\n";

const char* const kGenerateHelp =
    "usage: attnscope-cli generate --model DIR --text STR --max-new-tokens N\n"
    "                              [--device auto|cpu|cuda[:N]] [--layers ...] [--heads ...]\n"
    "                              [--out capture.safetensors]\n"
    "\n"
    "Greedy decoding with a key/value cache; prints the prompt and continuation.\n"
    "With --out, saves attentions.<layer> [heads, T, T] where row t is the attention of\n"
    "step t (prompt rows and every generated token), plus input_ids and generated_ids.\n";

struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> flags;
  bool has(const std::string& k) const { return values.count(k) != 0; }
  bool flag(const std::string& k) const { return std::find(flags.begin(), flags.end(), k) != flags.end(); }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  std::string require(const std::string& k) const {
    if (!has(k)) throw InputError("missing option --" + k + " (see --help)");
    return values.at(k);
  }
};

Args parseArgs(int argc, char** argv, int start, const std::vector<std::string>& valueOptions,
               const std::vector<std::string>& flagOptions) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) throw InputError("unexpected argument '" + s + "' (see --help)");
    s = s.substr(2);
    std::string value;
    bool inlineValue = false;
    const size_t eq = s.find('=');
    if (eq != std::string::npos) {
      value = s.substr(eq + 1);
      s = s.substr(0, eq);
      inlineValue = true;
    }
    if (std::find(flagOptions.begin(), flagOptions.end(), s) != flagOptions.end()) {
      a.flags.push_back(s);
      continue;
    }
    if (std::find(valueOptions.begin(), valueOptions.end(), s) == valueOptions.end())
      throw InputError("unknown option --" + s + " (see --help)");
    if (!inlineValue) {
      if (i + 1 >= argc) throw InputError("option --" + s + " needs a value");
      value = argv[++i];
    }
    a.values[s] = value;
  }
  return a;
}

bool wantsHelp(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

CaptureSelection selectionFrom(const Args& a) {
  CaptureSelection s;
  s.layers = parseIndexList(a.get("layers"), "--layers");
  s.heads = parseIndexList(a.get("heads"), "--heads");
  return s;
}

std::string humanCount(int64_t n) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2);
  if (n >= 1000000000) os << n / 1e9 << " B";
  else if (n >= 1000000) os << n / 1e6 << " M";
  else if (n >= 1000) os << n / 1e3 << " K";
  else os << n;
  return os.str();
}

int cmdInfo(const Args& a) {
  auto m = loadModel(a.require("model"), a.get("device", "auto"));
  const ModelInfo& i = m->model->info();
  if (a.flag("json")) {
    nlohmann::json j = {{"family", i.modelType}, {"architecture", i.architecture}, {"modality", i.modality},
                        {"layers", i.layers},    {"heads", i.heads},               {"kv_heads", i.kvHeads},
                        {"hidden", i.hidden},    {"vocab", i.vocab},               {"max_positions", i.maxPositions},
                        {"parameters", i.parameters}, {"dtype", i.dtype},         {"device", i.device},
                        {"head", i.head},        {"labels", i.labels},
                        {"tokenizer", m->tokenizer ? m->tokenizer->kind() : "none"}};
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
            << "dtype:        " << i.dtype << "\n"
            << "device:       " << i.device << "\n"
            << "head:         " << i.head << "\n"
            << "tokenizer:    " << (m->tokenizer ? m->tokenizer->kind() : "none") << "\n";
  if (!i.labels.empty()) {
    std::cout << "labels:      ";
    for (const auto& l : i.labels) std::cout << " " << l;
    std::cout << "\n";
  }
  return 0;
}

PreparedInput inputFrom(const LoadedModel& m, const Args& a) {
  if (a.has("text") && a.has("inputs")) throw InputError("give either --text or --inputs, not both");
  if (a.has("inputs")) return prepareInputsFile(m, a.get("inputs"));
  if (!a.has("text")) throw InputError("missing input: give --text STR or --inputs FILE.safetensors");
  std::optional<std::string> pair;
  if (a.has("text-pair")) pair = a.get("text-pair");
  return prepareText(m, a.get("text"), pair);
}

int cmdRun(const Args& a) {
  const std::string out = a.require("out");
  LogitsMode logits = LogitsMode::All;
  const std::string lm = a.get("logits", "all");
  if (lm == "last") logits = LogitsMode::Last;
  else if (lm == "none") logits = LogitsMode::None;
  else if (lm != "all") throw InputError("--logits must be all, last or none (got '" + lm + "')");
  const CaptureSelection sel = selectionFrom(a);
  auto m = loadModel(a.require("model"), a.get("device", "auto"));
  PreparedInput in = inputFrom(*m, a);
  RunResult r = runModel(*m, in, sel);
  saveCapture(out, *m, in, r, logits);
  std::cerr << "tokens (" << in.labels.size() << "):";
  for (const auto& l : in.labels) std::cerr << " [" << l << "]";
  std::cerr << "\nforward: " << std::fixed << std::setprecision(1) << r.seconds * 1000 << " ms on "
            << m->model->info().device << "\n";
  if (!r.prediction.empty()) std::cout << r.prediction.dump() << "\n";
  std::cerr << "wrote " << out << " (" << r.capture->records().size() << " attention tensors)\n";
  return 0;
}

int cmdGenerate(const Args& a) {
  const std::string n = a.require("max-new-tokens");
  int maxNew = 0;
  try {
    size_t used = 0;
    maxNew = std::stoi(n, &used);
    if (used != n.size()) throw std::invalid_argument(n);
  } catch (...) {
    throw InputError("--max-new-tokens must be an integer (got '" + n + "')");
  }
  const CaptureSelection sel = selectionFrom(a);
  auto m = loadModel(a.require("model"), a.get("device", "auto"));
  PreparedInput in = prepareText(*m, a.require("text"));
  GenerateResult g = generate(*m, in, maxNew, sel);
  std::cout << g.text << "\n";
  std::cerr << "generated " << (g.ids.size() - g.promptLength) << " tokens in " << std::fixed << std::setprecision(1)
            << g.seconds * 1000 << " ms\n";
  if (a.has("out")) {
    saveGeneration(a.get("out"), *m, in, g);
    std::cerr << "wrote " << a.get("out") << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" || std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "info") {
      if (wantsHelp(argc, argv)) return std::cout << kInfoHelp, 0;
      return cmdInfo(parseArgs(argc, argv, 2, {"model", "device"}, {"json"}));
    }
    if (cmd == "run") {
      if (wantsHelp(argc, argv)) return std::cout << kRunHelp, 0;
      return cmdRun(parseArgs(argc, argv, 2,
                              {"model", "text", "text-pair", "inputs", "device", "layers", "heads", "out", "logits"},
                              {}));
    }
    if (cmd == "generate") {
      if (wantsHelp(argc, argv)) return std::cout << kGenerateHelp, 0;
      return cmdGenerate(
          parseArgs(argc, argv, 2, {"model", "text", "max-new-tokens", "device", "layers", "heads", "out"}, {}));
    }
    std::cerr << "attnscope-cli: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  } catch (const AttnScopeError& e) {
    std::cerr << "attnscope-cli " << cmd << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "attnscope-cli " << cmd << ": internal error: " << e.what() << "\n";
    return 3;
  }
}
