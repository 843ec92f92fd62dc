// Legacy pytorch_model.bin support. Isolated in its own file: it needs the
// TorchScript unpickler (torch/serialize.h), which is heavy to compile.
#include <torch/serialize.h>

#include <fstream>
#include <iterator>

#include "attnscope/Errors.h"
#include "attnscope/WeightStore.h"

namespace attnscope {

std::map<std::string, at::Tensor> loadTorchStateDict(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ModelLoadError("cannot read '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    throw ModelLoadError("'" + path + "' is not a readable torch.save file: " + e.what());
  }
  if (!value.isGenericDict()) throw ModelLoadError("'" + path + "' does not hold a state dict (name -> tensor)");
  std::map<std::string, at::Tensor> out;
  for (const auto& kv : value.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor()) continue;
    out[kv.key().toStringRef()] = kv.value().toTensor();
  }
  if (out.empty()) throw ModelLoadError("'" + path + "' contains no tensors");
  return out;
}

}  // namespace attnscope
