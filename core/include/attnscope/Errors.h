#pragma once
/// \file Errors.h
/// Typed exceptions thrown by the engine. Every message names the file,
/// tensor, field or option at fault and says what was expected. The edges
/// (CLI, GUI) convert them: the CLI prints to stderr and exits with code 2,
/// the GUI shows a dialog.

#include <stdexcept>
#include <string>

namespace attnscope {

/// Base of every error the engine reports on purpose.
class AttnScopeError : public std::runtime_error {
 public:
  explicit AttnScopeError(const std::string& message) : std::runtime_error(message) {}
};

/// A model folder could not be loaded (missing file, bad config, bad weights).
class ModelLoadError : public AttnScopeError {
 public:
  using AttnScopeError::AttnScopeError;
};

/// config.json is missing, malformed, or lacks / mistypes a field.
class ConfigError : public ModelLoadError {
 public:
  using ModelLoadError::ModelLoadError;
};

/// A safetensors file is malformed (header, dtype, offsets, sizes).
class SafetensorsError : public ModelLoadError {
 public:
  using ModelLoadError::ModelLoadError;
};

/// Tokenizer files are missing or malformed.
class TokenizerError : public ModelLoadError {
 public:
  using ModelLoadError::ModelLoadError;
};

/// The user's input (text, inputs file, option values) cannot be used.
class InputError : public AttnScopeError {
 public:
  using AttnScopeError::AttnScopeError;
};

/// The requested device does not exist or is not available in this build.
class DeviceError : public AttnScopeError {
 public:
  using AttnScopeError::AttnScopeError;
};

/// A run needs more memory than the budget allows (refused before allocating), or an allocation failed anyway.
class OutOfMemoryError : public AttnScopeError {
 public:
  using AttnScopeError::AttnScopeError;
};

/// Whether \p e is a failed allocation (std::bad_alloc, LibTorch's "can't allocate memory", CUDA out of memory).
bool isAllocationFailure(const std::exception& e);

/// Runs \p f, turning a failed allocation into an OutOfMemoryError that names \p what (never an internal error).
template <class F>
auto guardAllocations(F&& f, const std::string& what) -> decltype(f()) {
  try {
    return f();
  } catch (const AttnScopeError&) {
    throw;
  } catch (const std::exception& e) {
    if (isAllocationFailure(e))
      throw OutOfMemoryError("out of memory during " + what +
                             ": the machine could not give what it needed (use a shorter input, fewer layers or "
                             "heads, or store queries and keys instead of probabilities)");
    throw;
  }
}

/// A long computation was cancelled by the user.
class CancelledError : public AttnScopeError {
 public:
  CancelledError() : AttnScopeError("cancelled") {}
};

/// Reports a non-fatal problem (e.g. unused tensors, truncated text).
/// The default handler prints "warning: <message>" to stderr.
void warn(const std::string& message);

/// Replaces the warning handler (nullptr restores the default). Returns the previous one.
using WarningHandler = void (*)(const std::string& message, void* user);
WarningHandler setWarningHandler(WarningHandler handler, void* user);

}  // namespace attnscope
