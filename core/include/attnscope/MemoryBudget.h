#pragma once
/// \file MemoryBudget.h
/// How much memory a run may use and how much it will need: estimated before anything is allocated, so a run
/// that cannot fit is refused with the numbers instead of being killed by the OS.

#include <cstdint>
#include <string>

#include "attnscope/AttentionCapture.h"
#include "attnscope/Engine.h"

namespace attnscope {

/// Bytes this process can still allocate now: the least of /proc/meminfo's MemAvailable, the cgroup's limit less
/// its usage (v2 and v1) and RLIMIT_AS less the process's virtual size, minus a safety margin (5 %, at least
/// 256 MiB). Returns a large number where none of them is known.
int64_t availableMemory();

/// Parses a size: "8G", "8GB", "512M", "1.5g", "2000000000" (bytes; K/M/G/T are powers of 1024).
/// Throws InputError naming \p option.
int64_t parseMemorySize(const std::string& text, const std::string& option);

/// "3.21 GB" (GiB, two decimals).
std::string formatGigabytes(int64_t bytes);

/// The parts of a run's peak memory.
struct MemoryEstimate {
  int64_t weights = 0;      ///< the parameters in the compute dtype
  int64_t activations = 0;  ///< the largest transient tensors of one layer, the outputs (logits) and attention scores
  int64_t store = 0;        ///< the capture (probabilities or queries/keys/lse)
  int64_t total() const { return weights + activations + store; }
  /// "9.31 GB (weights 0.50 GB, activations 0.31 GB, probabilities 8.50 GB)".
  std::string describe(CaptureKind kind) const;
};

/// Weights of the model folder \p dir in the dtype they will be computed in, from the files' sizes (nothing is
/// loaded): float32 on the CPU doubles 16-bit weights.
int64_t estimateWeightBytes(const std::string& dir, const std::string& deviceSpec, const std::string& dtypeSpec);

/// Peak memory of runModel() on \p input with \p selection (its kind decides the store) and \p lastLogitsOnly;
/// \p withVariant: an attention variant computes dense [heads, q, k] scores per layer.
MemoryEstimate estimateRun(const LoadedModel& m, const PreparedInput& input, const CaptureSelection& selection,
                           bool lastLogitsOnly = false, bool withVariant = false);

/// Bytes of the logits of every position of \p input (0 for models without a language-model head).
int64_t allLogitsBytes(const LoadedModel& m, const PreparedInput& input);

/// The capture kind a "store auto" run takes — the one rule of the CLI and the GUI: probabilities when the run with
/// them (\p probabilities, estimated with CaptureKind::Probabilities) fits \p budget together with \p keptCopies
/// more copies of its probabilities that the caller holds afterwards (the GUI's document keeps one), else queries
/// and keys. A variant whose attention is not exp(q·k·scale + bias − lse) (\p plainAttention false) always keeps
/// probabilities.
CaptureKind autoStoreKind(const MemoryEstimate& probabilities, int64_t budget, bool plainAttention, int keptCopies = 0);

/// Throws OutOfMemoryError when \p estimate exceeds \p budget, naming both in GB and what would fit instead.
void checkFits(const MemoryEstimate& estimate, CaptureKind kind, int64_t budget, const std::string& budgetSource);

}  // namespace attnscope
