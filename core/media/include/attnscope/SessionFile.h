#pragma once
/// \file SessionFile.h
/// Saved sessions (`.attnscope`): one safetensors file. Its `__metadata__` entry "attnscope_session" holds the
/// caller's state as JSON (model folder, input, variant, view state — opaque to this layer), and its tensors are
/// the captures that were on screen: the main capture as `capture/<stack>/<layer>` [heads, q, k] float32 and each
/// panel of a comparison as `compare/<i>/<stack>/<layer>` (+ `compare/<i>/js_grid` [layers, heads]), each with its
/// labels and numbers in metadata. A long input's on-demand layers are stored as what they are computed from:
/// `capture/<stack>/<layer>/queries`, `…/keys`, `…/lse` (+ `…/bias_diagonals`, `…/key_padding_mask`) with the
/// layer's scale, masks and head count in metadata, so a reopened session draws any tile exactly as the run did.
/// Plain C++ types only: the GUI includes this header.

#include <memory>
#include <string>

#include "attnscope/EngineSession.h"

namespace attnscope {

struct SessionData {
  std::string stateJson;                                ///< the caller's state document (JSON object)
  std::shared_ptr<const CaptureResult> capture;         ///< may be null
  std::shared_ptr<const ComparisonResult> comparison;   ///< may be null
};

/// The session as the bytes of one `.attnscope` file (write them atomically, e.g. with QSaveFile).
/// Throws InputError when stateJson is not a JSON object.
std::string encodeSession(const SessionData& session);

/// Reads a `.attnscope` file. Throws InputError naming the file when it is not a session (another safetensors file,
/// truncated, corrupt metadata, tensors that do not match their labels).
SessionData readSession(const std::string& path);

}  // namespace attnscope
