#pragma once
// What an open EngineSession holds (private to attnscope_media): the model, its summary and the last run,
// shared by EngineSession.cpp (opening and runs) and EngineSessionAnalyses.cpp (analyses of the last input).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "attnscope/Engine.h"
#include "attnscope/EngineSession.h"

namespace attnscope {

struct EngineSession::Impl {
  std::shared_ptr<LoadedModel> model;
  ModelSummary summary;
  std::optional<PreparedInput> lastInput;
  std::optional<RunResult> lastRun;
  std::optional<GenerateResult> lastGeneration;  ///< set when the last action was generate()
  std::string overlayCapture;  ///< temp capture file of the last run, for overlays
  /// Forgets the last run's private capture file (it describes an older run now).
  void dropOverlayFile() {
    std::error_code ec;
    if (!overlayCapture.empty()) std::filesystem::remove(overlayCapture, ec);
    overlayCapture.clear();
  }
  ~Impl() { dropOverlayFile(); }
};

}  // namespace attnscope
