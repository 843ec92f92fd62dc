#include "attnscope/Device.h"

#include <ATen/Context.h>

#include "attnscope/Errors.h"

namespace attnscope {

bool cudaAvailable() { return at::hasCUDA() && at::getNumGPUs() > 0; }

c10::Device parseDevice(const std::string& spec) {
  if (spec.empty() || spec == "auto") return cudaAvailable() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      size_t used = 0;
      try {
        index = std::stoi(spec.substr(5), &used);
      } catch (...) {
        used = 0;
      }
      if (used != spec.size() - 5 || index < 0)
        throw DeviceError("device '" + spec + "': expected auto, cpu, cuda or cuda:N");
    }
    if (!at::hasCUDA())
      throw DeviceError("device '" + spec + "': this build of LibTorch has no CUDA support (use cpu or auto)");
    if (index >= static_cast<int>(at::getNumGPUs()))
      throw DeviceError("device '" + spec + "': only " + std::to_string(at::getNumGPUs()) + " CUDA device(s) present");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw DeviceError("device '" + spec + "': expected auto, cpu, cuda or cuda:N");
}

std::string deviceName(const c10::Device& device) { return device.str(); }

}  // namespace attnscope
