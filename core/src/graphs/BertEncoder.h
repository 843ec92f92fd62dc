#pragma once
// The post-LN encoder BERT, RoBERTa and DistilBERT share: token (+ position, + token type) embeddings and a
// LayerNorm, then layers h = LN(h + O·Attn(h)); h = LN(h + Down·act(Up·h)). The families differ in tensor names,
// config keys, where positions start and in their heads; each family file supplies those and composes this
// encoder (as RotaryDecoder serves the decoders). Internal to core.

#include <string>
#include <vector>

#include "engine/FamilyCommon.h"

namespace attnscope {

class ModelConfig;

/// Tensor names of one family's encoder, relative to its prefix ("bert.", "roberta.", "distilbert.").
struct BertEncoderNames {
  std::string word = "embeddings.word_embeddings", position = "embeddings.position_embeddings",
              tokenType = "embeddings.token_type_embeddings",  ///< "" when the family has none (DistilBERT)
      embeddingNorm = "embeddings.LayerNorm", layers = "encoder.layer.", query = "attention.self.query",
              key = "attention.self.key", value = "attention.self.value", output = "attention.output.dense",
              attentionNorm = "attention.output.LayerNorm", up = "intermediate.dense", down = "output.dense",
              ffnNorm = "output.LayerNorm";
};

/// Sizes read from config.json (validated by the family before they reach here).
struct BertEncoderSizes {
  int64_t hidden = 0, layers = 0, heads = 0, intermediate = 0, vocab = 0, positions = 0, typeVocab = 0;
  double eps = 1e-12;
  std::string activation = "gelu";
};

/// The BERT / RoBERTa config keys (hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
/// vocab_size, max_position_embeddings, type_vocab_size, layer_norm_eps, hidden_act), range-checked. Throws ConfigError.
BertEncoderSizes bertSizes(const ModelConfig& cfg);

class BertEncoder {
 public:
  /// Takes the embeddings and layers under \p prefix + \p names from \p ws.
  void load(const std::string& prefix, const BertEncoderNames& names, const BertEncoderSizes& sizes, WeightStore& ws,
            const at::TensorOptions& o);
  /// word(ids) + position(positions) (+ token_type(types) when the family has them), normalised. [T, H]
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& types) const;
  /// Runs every layer over \p h [T, H] with the "self" stack's attention calls. [T, H]
  at::Tensor layers(at::Tensor h, const at::Tensor& padding, const ForwardOptions& options) const;
  const at::Tensor& wordEmbeddings() const { return m_word; }
  /// Model::headWrites() of layer \p layer: each head's output through its rows of the output projection.
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const;  // [heads, T, H]
  /// Model::postNorm(): the attention block's or the feed-forward block's LayerNorm of \p layer.
  NormParameters postNorm(int layer, ResidualPart part) const;
  const BertEncoderSizes& sizes() const { return m_sizes; }

 private:
  struct Layer {
    Linear q, k, v, out, up, down;
    LayerNorm attnNorm, ffnNorm;
  };
  BertEncoderSizes m_sizes;
  double m_scale = 1.0;
  at::Tensor m_word, m_position, m_tokenType;
  LayerNorm m_embNorm;
  std::vector<Layer> m_layers;
};

/// The model side every family built on the encoder shares: its post-norm residual stream, reported for ALTI and
/// the information-flow graph.
class BertEncoderModel : public Model {
 public:
  ResidualForm residualForm() const override { return ResidualForm::PostNorm; }
  NormParameters postNorm(int layer, ResidualPart part) const override { return m_encoder.postNorm(layer, part); }
  at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const override {
    return m_encoder.headWrites(layer, headOutputs);  // [heads, T, H]
  }

 protected:
  BertEncoder m_encoder;
};

}  // namespace attnscope
