// attnscope-cli figure: a paper figure of a capture: one head, the layer x head grid, or variants side by side.
#include "CliCommand.h"

#include <iostream>
#include <sstream>
#include <vector>

#include "CliFigures.h"
#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"

namespace attnscope::cli {
namespace {

const char* const kFigureHelp =
    "usage: attnscope-cli figure --capture FILE (--layer L --head H | --grid | --compare "
    "A.safetensors,B...)\n"
    "                            [--stack S] [--colormap viridis|magma|greys] --format png|svg|pdf [--dpi "
    "N]\n"
    "                            --out FILE\n"
    "\n"
    "Draws with the GUI's views, headless: title, token labels, colour bar; SVG and PDF keep axes and text "
    "as\n"
    "vectors. --grid draws every captured head of every layer; --compare puts --capture (the baseline) and "
    "the\n"
    "listed capture files (e.g. from `compare --captures`) side by side on one colour scale, at "
    "--layer/--head.\n";

int cmdFigure(const Args& a) {
#ifndef ATTNSCOPE_CLI_FIGURES
  throw InputError(
      "this attnscope-cli was built without Qt (ATTNSCOPE_BUILD_GUI=OFF): figures are unavailable");
#else
  FigureRequest r;
  r.out = a.require("out");
  r.format = a.get("format", "");
  if (r.format.empty()) {
    const auto dot = r.out.rfind('.');
    r.format = dot == std::string::npos ? "png" : r.out.substr(dot + 1);
  }
  r.stack = a.get("stack", "");
  r.colormap = a.get("colormap", "viridis");
  auto intOpt = [&](const std::string& k, int def) { return nonNegativeOption(a, k, def); };
  r.layer = intOpt("layer", 0);
  r.head = intOpt("head", 0);
  r.dpi = intOpt("dpi", 150);
  std::vector<CaptureResult> caps;
  std::vector<std::string> names;
  std::string name;
  caps.push_back(loadCaptureFile(a.require("capture"), &name));
  names.push_back(name);
  if (a.flag("grid")) {
    r.kind = "grid";
  } else if (a.has("compare")) {
    r.kind = "compare";
    std::stringstream ss(a.get("compare"));
    std::string f;
    while (std::getline(ss, f, ',')) {
      caps.push_back(loadCaptureFile(f, &name));
      names.push_back(name);
    }
  } else if (!a.has("layer") || !a.has("head")) {
    throw InputError("give --layer L --head H, --grid, or --compare FILES");
  }
  try {
    renderFigureHeadless(r, caps, names);
  } catch (const AttnScopeError&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw InputError(e.what());
  }
  std::cerr << "wrote " << r.out << "\n";
  return 0;
#endif
}

}  // namespace

const CliCommand kFigureCommand{"figure", "a paper figure of a capture: one head, the layer x head grid, or variants side by side", kFigureHelp, {"capture", "layer", "head", "compare", "stack", "colormap", "format", "dpi", "out"}, {"grid"}, cmdFigure, nullptr};

}  // namespace attnscope::cli
