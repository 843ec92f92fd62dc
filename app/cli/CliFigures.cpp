#include "CliFigures.h"

#include <filesystem>

namespace attnscope::cli {

/// --figure FILE (.pdf, .svg or .png), checked before any work; "" when absent. Refused when built without
/// Qt.
std::string figureArg(const Args& a) {
  if (!a.has("figure")) return "";
  const std::string figure = a.get("figure");
  const std::string ext = std::filesystem::path(figure).extension().string();
  if (ext != ".pdf" && ext != ".svg" && ext != ".png")
    throw InputError("--figure must end in .pdf, .svg or .png (got '" + figure + "')");
#ifndef ATTNSCOPE_CLI_FIGURES
  throw InputError(
      "this attnscope-cli was built without Qt (ATTNSCOPE_BUILD_GUI=OFF): --figure is unavailable");
#endif
  return figure;
}

/// --dpi N for figures: 36..2400, 300 when absent.
int dpiArg(const Args& a) {
  int64_t dpi = 300;
  if (a.has("dpi") && (!parseNonNegativeInt(a.get("dpi"), &dpi) || dpi < 36 || dpi > 2400))
    throw InputError("--dpi must be a whole number in 36..2400 (got '" + a.get("dpi") + "')");
  return static_cast<int>(dpi);
}

}  // namespace attnscope::cli
