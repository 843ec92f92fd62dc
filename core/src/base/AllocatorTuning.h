#pragma once
// How the engine's processes use glibc's allocator (see Engine.cpp).

namespace attnscope::detail {

/// Keeps freed blocks up to 64 MiB in the heap instead of returning them to the kernel, so the large, short-lived
/// buffers of attention (a forward's scores, a streamed head's row blocks) do not pay fresh page faults each time.
/// Called by loadModel() and CaptureFile::open(); once per process, later calls do nothing.
void tuneAllocator();

}  // namespace attnscope::detail
