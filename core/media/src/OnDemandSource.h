#pragma once
/// \file OnDemandSource.h
/// (private to attnscope_media) The cells of a long input's queries/keys capture, computed on demand: the
/// AttentionSource behind EngineSession runs and sessions that store queries and keys.

#include <map>
#include <string>
#include <utility>

#include "attnscope/EngineSession.h"
#include "attnscope/QueryKeyLayer.h"

namespace attnscope {

class OnDemandSource : public AttentionSource {
 public:
  using Layers = std::map<std::pair<std::string, int>, QueryKeyLayer>;
  explicit OnDemandSource(Layers layers) : m_layers(std::move(layers)) {}
  std::vector<float> blockMaxima(const std::string& stack, int layer, int head, int row0, int row1, int col0, int col1,
                                 int blockRows, int blockCols, int* rows, int* cols) const override;
  std::vector<float> cells(const std::string& stack, int layer, int head, int row0, int row1, int col0,
                           int col1) const override;
  /// Every layer by (stack, layer) (what a session stores).
  const Layers& layers() const { return m_layers; }
  /// The layer (stack, layer); throws InputError when it was not captured.
  const QueryKeyLayer& find(const std::string& stack, int layer) const;

 private:
  Layers m_layers;
};

}  // namespace attnscope
