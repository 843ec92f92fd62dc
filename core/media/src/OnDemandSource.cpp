#include "OnDemandSource.h"

#include "attnscope/Errors.h"

namespace attnscope {

std::vector<float> OnDemandSource::blockMaxima(const std::string& stack, int layer, int head, int row0, int row1,
                                               int col0, int col1, int blockRows, int blockCols, int* rows,
                                               int* cols) const {
  const at::Tensor b =
      find(stack, layer).blockMaximaBySize(head, row0, row1, col0, col1, blockRows, blockCols).contiguous();  // [r, c]
  *rows = static_cast<int>(b.size(0));
  *cols = static_cast<int>(b.size(1));
  return std::vector<float>(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
}

std::vector<float> OnDemandSource::cells(const std::string& stack, int layer, int head, int row0, int row1, int col0,
                                         int col1) const {
  const at::Tensor t = find(stack, layer).tile(head, row0, row1 - row0, col0, col1 - col0).contiguous();  // [r, c]
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

const QueryKeyLayer& OnDemandSource::find(const std::string& stack, int layer) const {
  auto it = m_layers.find({stack, layer});
  if (it == m_layers.end()) throw InputError("layer " + std::to_string(layer) + " of '" + stack + "' was not captured");
  return it->second;
}

}  // namespace attnscope
