// attnscope-cli compare: run attention variants side by side and report what each changes and costs.
#include "CliCommand.h"

#include <cctype>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <stdexcept>

#include "attnscope/AtomicFile.h"
#include "attnscope/Compare.h"
#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"

namespace attnscope::cli {
namespace {

const char* const kCompareHelp =
    "usage: attnscope-cli compare --model DIR (--text STR [--text-pair STR] | --image P | --audio P | "
    "--inputs F)\n"
    "                             --variant SPEC [--variant SPEC ...] [--repeats N] [--device ...] [--dtype "
    "D]\n"
    "                             --out report.json [--captures DIR]\n"
    "\n"
    "Runs the model under every variant (the `full` baseline is always run) and writes report.json:\n"
    "per-variant cost (median wall time of N forwards, analytic attention FLOPs and memory, measured peak\n"
    "tensor memory), the prediction, model-level logits KL and top-1 agreement, per-layer hidden-state "
    "drift\n"
    "and per-head JS divergence, KL, top-5 overlap, L2 regulariser and output cosine against `full`.\n"
    "--captures DIR also writes each variant's capture file (the `run` format) into DIR.\n"
    "\n"
    "variants (quote specs in the shell; list values continue after commas, e.g. guide:tokens=3,7,bias=2):\n";

std::string fileNameFor(size_t index, const std::string& spec) {
  std::string s;
  for (char c : spec) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  if (s.size() > 80) s.resize(80);
  std::string n = std::to_string(index);
  if (n.size() < 2) n = "0" + n;
  return n + "-" + s + ".safetensors";
}

int cmdCompare(const Args& a) {
  const std::string out = a.require("out");
  if (!a.all.count("variant")) throw InputError("missing option --variant SPEC (give one or more)");
  CompareOptions options;
  const std::string rep = a.get("repeats", "3");
  try {
    size_t used = 0;
    options.repeats = std::stoi(rep, &used);
    if (used != rep.size()) throw std::invalid_argument(rep);
  } catch (...) {
    throw InputError("--repeats must be an integer (got '" + rep + "')");
  }
  for (const auto& spec : a.all.at("variant")) makeVariant(spec);  // fail before loading the model
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  PreparedInput in = inputFrom(*m, a);
  Comparison c = compareVariants(*m, in, a.all.at("variant"), options);
  if (a.has("captures")) {
    const std::string dir = a.get("captures");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw InputError("--captures: cannot create folder '" + dir + "': " + ec.message());
    nlohmann::json files = nlohmann::json::array();
    for (size_t i = 0; i < c.outcomes.size(); ++i) {
      const std::string path = (std::filesystem::path(dir) / fileNameFor(i, c.outcomes[i].spec)).string();
      saveCapture(path, *m, in, c.outcomes[i].run);
      c.report["variants"][i]["capture"] = path;
    }
  }
  writeFileAtomically(out, c.report.dump(2) + "\n");
  // A readable summary on stdout.
  std::cout << std::left << std::setw(34) << "variant" << std::right << std::setw(11) << "time ms"
            << std::setw(9) << "x full" << std::setw(10) << "flops" << std::setw(10) << "attn mem"
            << std::setw(10) << "mean JS" << std::setw(10) << "top-1"
            << "\n";
  for (const auto& v : c.report["variants"]) {
    const auto& mm = v["model_metrics"];
    std::cout << std::left << std::setw(34) << v["spec"].get<std::string>() << std::right << std::fixed
              << std::setprecision(1) << std::setw(11) << v["cost"]["seconds_median"].get<double>() * 1000
              << std::setprecision(2) << std::setw(9) << v["cost"]["time_ratio"].get<double>()
              << std::setw(10) << v["cost"]["flops_ratio"].get<double>() << std::setw(10)
              << v["cost"]["attention_bytes_ratio"].get<double>() << std::setprecision(4) << std::setw(10)
              << mm.value("js_mean", 0.0) << std::setprecision(3) << std::setw(10)
              << (mm.contains("top1_agreement") ? mm["top1_agreement"].get<double>() : 1.0) << "\n";
  }
  std::cerr << "wrote " << out << "\n";
  return 0;
}

/// The variants the engine registered, after the help text.
void printVariants(std::ostream& os) {
  for (const auto& [name, kind] : variantKinds())
    os << "  " << std::left << std::setw(10) << name << kind.summary << "\n";
}

}  // namespace

const CliCommand kCompareCommand{"compare", "run attention variants side by side and report what each changes and costs", kCompareHelp, {"model", "text", "text-pair", "target", "inputs", "image", "audio", "offset", "device", "dtype", "variant", "repeats", "out", "captures"}, {}, cmdCompare, printVariants};

}  // namespace attnscope::cli
