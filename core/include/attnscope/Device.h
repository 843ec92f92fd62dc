#pragma once
/// \file Device.h
/// Device selection: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".

#include <c10/core/Device.h>

#include <string>

namespace attnscope {

/// Parses \p spec. Throws DeviceError when it is malformed or names a GPU this build/machine lacks.
c10::Device parseDevice(const std::string& spec);
/// True when LibTorch was built with CUDA and a GPU is present.
bool cudaAvailable();
/// "cpu" or "cuda:N".
std::string deviceName(const c10::Device& device);

}  // namespace attnscope
