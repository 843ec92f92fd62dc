#pragma once
/// \file Model.h
/// The interface every model family implements, and the registry that maps a
/// Hugging Face model_type to the family that builds it.

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attnscope/Attention.h"

namespace attnscope {

class ModelConfig;
class WeightStore;

/// Named tensors, keyed by Hugging Face input/output names
/// (input_ids, token_type_ids, attention_mask, last_hidden_state, logits, ...).
using TensorMap = std::map<std::string, at::Tensor>;

/// What a loaded model is, for `info`, the model card and capture metadata.
struct ModelInfo {
  std::string modelType;      ///< HF model_type ("bert")
  std::string architecture;   ///< the class built ("BertForSequenceClassification")
  std::string modality;       ///< "text", "image" or "audio"
  int layers = 0;
  int heads = 0;              ///< query heads
  int kvHeads = 0;            ///< key/value heads (== heads without GQA)
  int hidden = 0;
  int vocab = 0;
  int maxPositions = 0;
  int64_t parameters = 0;
  std::string dtype;          ///< stored weight dtype ("F32", "BF16", ...)
  std::string computeDtype;   ///< the dtype weights and activations are computed in ("F32")
  std::string device;         ///< "cpu", "cuda:0"
  bool causal = false;        ///< decoder-only LM (can generate)
  std::vector<std::string> stacks = {"self"};
  std::vector<std::string> labels;  ///< id2label of a classification head
  std::string head;           ///< "lm", "classifier", "mlm" or "none"
  std::vector<std::string> prefixTokens;  ///< labels of positions before the patches/frames ("[CLS]", "[DIST]")
  // Image models (modality "image").
  int imageHeight = 0, imageWidth = 0;  ///< the model's input size in pixels
  int patchSize = 0;                    ///< square patches, row-major after the prefix tokens
  bool anyImageSize = false;            ///< the model takes other sizes too (DINOv2 interpolates its positions)
  // Audio models (modality "audio").
  int sampleRate = 0;               ///< Hz the model expects
  double windowSeconds = 0;         ///< audio seen at once (longer input is cut at the window)
  double secondsPerPosition = 0;    ///< time between consecutive frame positions of the (encoder) sequence
  std::string audioInput;           ///< "input_values" (waveform; front end in the model) or "input_features" (log-mel)
  bool anyAudioLength = false;      ///< input_values of any length up to windowSeconds, not padded (wav2vec2)
  std::vector<int> audioConvKernels, audioConvStrides;  ///< the waveform front end's convolutions (frames per input)
  bool encoderDecoder = false;      ///< encoder–decoder (Whisper): stacks encoder/decoder/cross, generates text
  int decoderPositions = 0;         ///< decoder positions of an encoder–decoder model
  // Structure beyond plain attention, reported through the capture.
  bool attentionSinks = false;      ///< learned sinks: rows of the real keys sum to 1 − sink mass (gpt-oss)
  int experts = 0;                  ///< mixture of experts: routed experts per MoE layer (0 = dense model)
  int expertsPerToken = 0;          ///< experts each token is routed to
  std::vector<int> routedLayers;    ///< layers of the "self" stack that have a router
};

/// How the residual stream of a model's input stack (Model::inputStack()) is built, for the analyses that split it
/// into what each part writes (ALTI, the information-flow graph).
enum class ResidualForm {
  None,     ///< the family does not report its residual writes
  PreNorm,  ///< h ← h + write (the norms sit inside the blocks): the stream is the sum of the embeddings and every write
  PostNorm  ///< h ← LN(h + write) after each block (BERT, KWT): Model::postNorm() gives each LN
};

/// A LayerNorm's parameters: (x − mean x) / sqrt(var x + eps) ⊙ weight + bias.
struct NormParameters {
  at::Tensor weight;  ///< [hidden]
  at::Tensor bias;    ///< [hidden]
  double eps = 0;
};

/// Options of one forward pass.
struct ForwardOptions {
  AttentionHook* hook = nullptr;               ///< capture / variants
  std::vector<LayerKvCache>* cache = nullptr;  ///< per-layer cache for incremental decoding
  int64_t positionOffset = 0;                  ///< absolute position of the first input token
  const AttentionVariant* variant = nullptr;   ///< attention variant applied at every attention call
  TensorMap* state = nullptr;  ///< family state kept across incremental steps (e.g. the encoder output)
  /// Language models: compute the logits of the last position only ([1, vocab]); long inputs' [T, vocab] logits
  /// can outweigh everything else (16k positions × 32k tokens = 2 GB).
  bool lastLogitsOnly = false;
};

/// A model family instance with its weights on a device.
class Model {
 public:
  virtual ~Model() = default;
  const ModelInfo& info() const { return m_info; }
  /// Runs the model on batch-1 inputs ([1, T] HF tensors) and returns HF outputs with the batch
  /// dimension squeezed: last_hidden_state [T, hidden], logits [T, vocab] or [labels], pooler_output.
  virtual TensorMap forward(const TensorMap& inputs, const ForwardOptions& options) = 0;
  /// Names of the inputs forward() understands.
  virtual std::vector<std::string> inputNames() const = 0;
  /// The stack whose residual stream the token output head reads ("self"); "" when the model has no token output
  /// head (classifiers, encoders without a masked-LM head). Analyses that read the residual stream through the
  /// output head (the logit lens) need one.
  virtual std::string lensStack() const { return ""; }
  /// The model's own final norm and token output head applied to residual-stream rows of lensStack() ([T, H], as a
  /// layer leaves them): [T, V] logits. Applied to the last layer's output it is forward()'s logits. Undefined when
  /// lensStack() is "".
  virtual at::Tensor outputHead(const at::Tensor& hidden) const { return at::Tensor(); }
  /// Whether direct logit attribution works: the residual stream of lensStack() is the sum of what the embeddings and
  /// every attention (and, in a decoder with an encoder, cross-attention) and MLP block write to it
  /// (AttentionHook::onResidualWrite reports each, with the site's stack lensStack()), and lensHeadWrites() and
  /// frozenHeadLogits() are implemented. False for post-norm models, whose residual stream is renormalised in every
  /// layer.
  virtual bool hasDirectAttribution() const { return false; }
  /// What each attention head at \p site writes to the residual stream of lensStack(): headWrites() for the
  /// input stack's heads when it is the lens stack (decoder-only models); encoder–decoder models answer for their
  /// "decoder" and "cross" sites. [heads, T, hidden] from \p headOutputs [heads, T, d]; undefined for other sites.
  virtual at::Tensor lensHeadWrites(const AttentionSite& site, const at::Tensor& headOutputs) const {
    return site.stack == lensStack() && site.stack == inputStack() ? headWrites(site.layer, headOutputs)
                                                                    : at::Tensor();
  }
  /// The self-attention stack over the input's positions: "self", or "encoder" for encoder–decoder models ("" when
  /// there is none). residualForm(), postNorm() and headWrites() describe its layers.
  std::string inputStack() const {
    for (const char* s : {"self", "encoder"})
      for (const std::string& have : m_info.stacks)
        if (have == s) return have;
    return "";
  }
  /// How the input stack's residual stream is built. Other than None, the family reports every write
  /// (AttentionHook::onResidualWrite: the embeddings as they enter layer 0, each attention and MLP block's write before
  /// any norm that follows it) and implements headWrites(); PostNorm families also postNorm(). Default: PreNorm when
  /// hasDirectAttribution(), else None.
  virtual ResidualForm residualForm() const { return hasDirectAttribution() ? ResidualForm::PreNorm : ResidualForm::None; }
  /// PostNorm models: the LayerNorm applied to the residual sum after \p part (Attention or Mlp) of layer \p layer.
  virtual NormParameters postNorm(int layer, ResidualPart part) const { return {}; }
  /// What each attention head of layer \p layer writes to the residual stream: the output projection applied to each
  /// head's slice of \p headOutputs ([heads, T, d], as AttentionHook::onHeadOutputs gives them), without the
  /// projection's bias: [heads, T, hidden]. Summed over heads plus the bias it is the layer's attention write.
  virtual at::Tensor headWrites(int layer, const at::Tensor& headOutputs) const { return at::Tensor(); }
  /// The output head linearised at the residual row \p residual ([hidden]): the final norm's scale frozen at its
  /// value for \p residual (as TransformerLens's direct logit attribution does). Returns the logit of token \p target
  /// each row of \p parts ([N, hidden]) contributes, float64 [N]; \p constant receives what the head adds whatever
  /// its input (the norm's bias through the unembedding, the unembedding's bias). When the rows of \p parts sum to
  /// \p residual, the result's sum plus \p constant is outputHead(residual)[target].
  virtual at::Tensor frozenHeadLogits(const at::Tensor& parts, const at::Tensor& residual, int64_t target,
                                      double* constant) const {
    return at::Tensor();
  }

 protected:
  ModelInfo m_info;
};

/// Builds a model from its config and weights (taking tensors from \p weights) on \p options' device.
using ModelFactory =
    std::function<std::unique_ptr<Model>(const ModelConfig&, WeightStore&, const at::TensorOptions& options)>;

/// A registered family.
struct ModelFamily {
  std::string modelType;  ///< HF model_type key
  std::string modality;
  std::string description;
  ModelFactory factory;
  /// Optional: recognises a folder whose config.json has no model_type (e.g. the KWT keyword transformer).
  std::function<bool(const ModelConfig&)> recognises;
};

/// All families linked into the program, keyed by model_type.
class ModelRegistry {
 public:
  static ModelRegistry& instance();
  void add(ModelFamily family);
  /// Throws ModelLoadError listing the supported model types when \p modelType is unknown.
  const ModelFamily& get(const std::string& modelType, const std::string& configPath) const;
  std::vector<std::string> modelTypes() const;
  /// The family for \p config: by model_type, or (without one) the family that recognises the config.
  const ModelFamily& familyFor(const ModelConfig& config) const;

 private:
  std::map<std::string, ModelFamily> m_families;
};

/// Registers a family at static-initialisation time; one per family file.
struct RegisterModelFamily {
  explicit RegisterModelFamily(ModelFamily family) { ModelRegistry::instance().add(std::move(family)); }
};

}  // namespace attnscope
