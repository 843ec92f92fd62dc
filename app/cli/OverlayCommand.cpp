// attnscope-cli overlay: draw one query's attention over the input image or the audio's spectrogram.
#include "CliCommand.h"

#include <iostream>

#include "attnscope/Errors.h"
#include "attnscope/OverlayRenderer.h"

namespace attnscope::cli {
namespace {

const char* const kOverlayHelp =
    "usage: attnscope-cli overlay --capture FILE (--layer L --head H | --rollout) [--query Q] [--stack S]\n"
    "                             [--alpha A] [--colormap viridis|magma|greys] --out overlay.png\n"
    "\n"
    "Draws the attention of query position Q (default 0, the class token) of a capture written by `run`:\n"
    "over the picture for image models (patches upsampled and alpha-blended), over the spectrogram for "
    "audio\n"
    "models (a time-aligned strip and curve). --rollout uses attention rollout across all captured layers\n"
    "(mean over heads; Abnar & Zuidema 2020) instead of one head. --stack picks encoder/decoder/cross for "
    "Whisper.\n";

int cmdOverlay(const Args& a) {
  const std::string capture = a.require("capture"), out = a.require("out");
  auto intOpt = [&](const std::string& k, int def) { return nonNegativeOption(a, k, def); };
  OverlayRequest req;
  req.rollout = a.flag("rollout");
  if (!req.rollout && (!a.has("layer") || !a.has("head")))
    throw InputError("give --layer L --head H, or --rollout");
  req.stack = a.get("stack", "");
  req.layer = intOpt("layer", 0);
  req.head = intOpt("head", 0);
  req.query = intOpt("query", 0);
  if (a.has("alpha")) {
    try {
      req.alpha = std::stod(a.get("alpha"));
    } catch (...) {
      req.alpha = -1;
    }
  }
  if (!(req.alpha >= 0 && req.alpha <= 1)) throw InputError("--alpha must be between 0 and 1");
  req.colormap = a.get("colormap", "viridis");
  if (req.colormap != "viridis" && req.colormap != "magma" && req.colormap != "greys")
    throw InputError("--colormap must be viridis, magma or greys");
  writeCaptureOverlay(capture, req, out);
  std::cerr << "wrote " << out << "\n";
  return 0;
}

}  // namespace

const CliCommand kOverlayCommand{"overlay", "draw one query's attention over the input image or the audio's spectrogram", kOverlayHelp, {"capture", "layer", "head", "query", "stack", "alpha", "colormap", "out"}, {"rollout"}, cmdOverlay, nullptr};

}  // namespace attnscope::cli
