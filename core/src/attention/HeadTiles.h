#pragma once
// Tiles of a queries/keys capture written into a caller's buffer, for the paths that stream a long head block by
// block (`attnscope-cli head`, tiles at screen resolution): one buffer for every block instead of an allocation,
// a zero-filled copy and a second pass per block.

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "attnscope/QueryKeyLayer.h"

namespace attnscope::detail {

/// Fills \p rowBuffer (float32 [n, cols], rows contiguous) with layer.tile(headPos, row0, n, col0, cols): the
/// visible keys computed in place, every other cell set to 0. Throws InputError when the range is outside the layer.
void tileInto(const QueryKeyLayer& layer, int headPos, int64_t row0, int64_t col0, const at::Tensor& rowBuffer);

}  // namespace attnscope::detail
