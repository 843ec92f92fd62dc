#pragma once
/// \file EngineSession.h
/// A Qt-safe facade over the engine: plain C++ types only, no LibTorch headers,
/// so GUI code (which includes Qt) can use it. One session = one loaded model.
/// Not thread-safe: use a session from one thread at a time (the GUI's worker).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attnscope/DeletionCurve.h"
#include "attnscope/DirectLogitAttribution.h"
#include "attnscope/InformationFlowGraph.h"
#include "attnscope/PruneSweepResult.h"
#include "attnscope/TokenAttribution.h"

namespace attnscope {

/// The model card.
struct ModelSummary {
  std::string dir, family, architecture, modality, dtype, device, head, tokenizer;
  std::string computeDtype;  ///< what the weights are computed in ("F32")
  int layers = 0, heads = 0, kvHeads = 0, hidden = 0, vocab = 0, maxPositions = 0;
  int64_t parameters = 0;
  bool causal = false;
  bool encoderDecoder = false;  ///< T5 / BART / Whisper: encoder, decoder and cross stacks; text ones take a target
  double windowSeconds = 0;     ///< audio models: the seconds heard at once (0 = not an audio model)
  bool canGenerate = false;     ///< greedy generation works (decoder language models, encoder–decoder models)
  bool hasLens = false;         ///< a token output head reads the residual stream: the logit lens works
  std::string lensStack;        ///< the stack whose positions the lens and DLA read ("self", "decoder"; "" = none)
  bool hasDirectAttribution = false;  ///< the residual stream is a sum of writes: direct logit attribution works
  /// The family reports what each layer writes to its residual stream (pre- or post-norm): ALTI and the
  /// information-flow graph work.
  bool hasResidualDecomposition = false;
  std::vector<std::string> deletionMethods;  ///< the faithfulness rankings that apply (deletionMethods(model))
  std::vector<std::string> labels;
  std::string note;  ///< config.json "attnscope_note" (e.g. "Locally trained demo …"), shown on the model card
  bool attentionSinks = false;  ///< learned sinks: captures carry each row's sink mass (AttentionMatrix::sinkMass)
  int experts = 0;              ///< mixture of experts: routed experts per MoE layer (0 = dense)
  int expertsPerToken = 0;
  std::vector<int> routedLayers;  ///< layers with a router: captures carry their routing (CaptureResult::routing)
};

/// Attention of one (stack, layer): row-major [heads, q, k] float32.
struct AttentionMatrix {
  std::string stack;
  int layer = 0;
  std::vector<int> headIndex;  ///< model head index of each stored head
  int heads = 0, q = 0, k = 0;
  std::vector<float> data;     ///< empty when onDemand
  /// A long input's layer kept as queries and keys: no data; its cells come from CaptureResult::source.
  bool onDemand = false;
  /// Learned sinks (gpt-oss): each row's probability of the sink, row-major [heads, q]; the row's cells sum to
  /// 1 − it. Empty for families without sinks.
  std::vector<float> sinkMass;
  float sinkAt(int h, int i) const { return sinkMass.empty() ? 0.f : sinkMass[static_cast<size_t>(h) * q + i]; }
  float at(int h, int i, int j) const {
    return data[(static_cast<size_t>(h) * q + i) * k + j];
  }
};

/// Attention computed on demand from a long input's queries, keys and row log-sum-exp: any window of any head at
/// any resolution, without the [heads, q, k] probabilities ever existing. Thread-safe (read-only).
class AttentionSource {
 public:
  virtual ~AttentionSource() = default;
  /// Block maxima of head slot \p head of (stack, layer) over query rows [row0, row1) and keys [col0, col1), in blocks
  /// of blockRows × blockCols cells from (row0, col0) (the last ones partial): row-major, *rows/*cols set.
  virtual std::vector<float> blockMaxima(const std::string& stack, int layer, int head, int row0, int row1, int col0,
                                         int col1, int blockRows, int blockCols, int* rows, int* cols) const = 0;
  /// The exact probabilities of head slot \p head for query rows [row0, row1) and keys [col0, col1), row-major.
  virtual std::vector<float> cells(const std::string& stack, int layer, int head, int row0, int row1, int col0,
                                   int col1) const = 0;
};

/// The logit lens of one input (LogitLens.h) as plain types: layers × positions cells.
struct LensResult {
  std::vector<std::string> positions;  ///< the input's position labels
  int layers = 0;
  std::string target;  ///< the fixed target token ("" = at each position the model's own prediction)
  struct Cell {
    std::vector<std::string> tokens;  ///< the top tokens, most probable first
    std::vector<int64_t> ids;
    std::vector<float> p;      ///< their probabilities
    std::string targetToken;   ///< the target at this position
    float targetP = 0;         ///< its probability after this layer
    int targetRank = 0;        ///< tokens with a larger logit (0 = the top)
  };
  std::vector<Cell> cells;  ///< [layers × positions], layer-major
  const Cell& at(int layer, int position) const {
    return cells[static_cast<size_t>(layer) * positions.size() + static_cast<size_t>(position)];
  }
};

/// Everything a view needs from one run.
/// One run of the model: text (+ pair), an image, or an audio file (with a start offset), under an optional
/// attention variant spec ("" or "full" = none).
struct RunRequest {
  std::string text, pair;
  bool hasPair = false;
  std::string imagePath, audioPath;
  std::string inputsPath;  ///< exact model inputs by their HF names (a safetensors file), instead of text/image/audio
  double offsetSeconds = 0;
  std::string variant;
  /// "auto": probabilities unless they would take more than a third of the memory the machine can give (then
  /// queries and keys, computed on demand); "probs"; "qk".
  std::string store = "auto";
};

struct CaptureResult {
  std::vector<std::string> queryLabels, keyLabels;  ///< of the first stack
  /// Query / key labels per stack ("self", "encoder", "decoder", "cross").
  std::vector<std::string> stacks;
  std::vector<std::vector<std::string>> stackQueryLabels, stackKeyLabels;
  std::string variant;                  ///< the spec the run used ("" = none)
  std::vector<AttentionMatrix> layers;  ///< ordered by (stack, layer)
  std::string predictionJson;           ///< the engine's prediction as JSON
  std::string predictionText;           ///< one line for the status bar
  double seconds = 0;
  /// A generation under a variant: per generated step, the KL(full ‖ variant) of the next-token distributions on
  /// the same prefix, the variant's token and the full model's top one (empty otherwise).
  struct StepKl {
    double kl = 0;
    std::string token, fullTop1;
    bool agree = true;
  };
  std::vector<StepKl> stepKl;
  /// One mixture-of-experts layer's routing: per token, the router's distribution over the experts and the k
  /// experts chosen with their weights.
  struct Routing {
    int layer = 0;
    int tokens = 0, experts = 0, k = 0;
    std::vector<float> probs;    ///< row-major [tokens, experts]
    std::vector<int> chosen;     ///< row-major [tokens, k], the family's top-k order
    std::vector<float> weights;  ///< row-major [tokens, k]
    float prob(int t, int e) const { return probs[static_cast<size_t>(t) * experts + e]; }
  };
  std::vector<Routing> routing;  ///< ordered by layer; empty for dense models
  const Routing* findRouting(int layer) const {
    for (const auto& r : routing)
      if (r.layer == layer) return &r;
    return nullptr;
  }
  /// A run still in progress: the layers recorded so far (EngineSession::run's partial callback).
  bool partial = false;
  /// Where the cells of onDemand layers come from (null when every layer holds its probabilities).
  std::shared_ptr<const AttentionSource> source;
  bool onDemand() const { return source != nullptr; }
  const AttentionMatrix* find(const std::string& stack, int layer) const {
    for (const auto& m : layers)
      if (m.stack == stack && m.layer == layer) return &m;
    return nullptr;
  }
};

/// One loaded model. Errors are thrown as attnscope::AttnScopeError subclasses (Errors.h).
/// One variant of a comparison: its capture and the comparison engine's numbers against `full`.
struct VariantPanel {
  std::string spec;
  CaptureResult capture;
  double seconds = 0, timeRatio = 1, flopsRatio = 1, memoryRatio = 1;
  double meanJs = 0, top1Agreement = 1, logitsKl = 0;
  std::vector<float> jsGrid;  ///< [layers × heads] mean JS divergence of each head (first stack)
  std::vector<std::string> prunedHeads;  ///< heads the variant removed ("L3H2"; prune variants), else empty
  std::string predictionJson;            ///< the variant's prediction (next tokens, label, …) as JSON
  /// A position whose predicted token (argmax of the logits) differs from full's.
  struct ChangedPrediction {
    int position = 0;
    std::string at, full, variant;  ///< the input token at the position, full's and the variant's prediction
  };
  std::vector<ChangedPrediction> changed;  ///< every changed position (language-model heads)
  int positions = 0;                       ///< positions compared for top-1 agreement
};

struct ComparisonResult {
  int layers = 0, heads = 0;
  std::vector<VariantPanel> panels;  ///< panels[0] is `full`
  std::string reportJson;            ///< the full report.json document
};

/// Inputs of at most this many positions get the whole attention-flow matrix (T² maximum flows).
constexpr int kFlowMatrixPositions = 96;

/// Aggregate of \p capture's \p stack: "mean" or "max" over the heads of \p layer, or "rollout" or "flow" (attention
/// flow; Abnar & Zuidema 2020) across every layer up to and including \p layer. Returns a [rows × cols] row-major
/// matrix; throws InputError for an unknown kind, a layer that was not captured, or a flow matrix of more than
/// kFlowMatrixPositions positions.
std::vector<float> aggregateAttention(const CaptureResult& capture, const std::string& stack, int layer,
                                      const std::string& kind, int* rows, int* cols);

/// One query row of an aggregate, for long inputs whose [q, k] matrices are never made: row \p query of "mean" or
/// "max" over the heads of \p layer, or of "rollout" up to \p layer — computed as a row vector times one layer's
/// matrix at a time, each layer visited in blocks of the query rows the vector reaches (on-demand layers computed
/// from their queries and keys). Works on every capture; equals that row of aggregateAttention(). Returns k values.
/// Throws InputError for an unknown kind, a layer not captured or a row out of range.
std::vector<float> aggregateRow(const CaptureResult& capture, const std::string& stack, int layer,
                                const std::string& kind, int query);

/// Per-head metric of \p capture's \p stack as a [layers × heads] grid (heads by model index; heads that were not
/// captured stay 0): "entropy" (mean row entropy, nats), "distance" (mean |i − j| weighted by attention, in
/// positions), "sink" (mean weight on the first position: BOS / [CLS] / the class token).
std::vector<float> captureHeadMetric(const CaptureResult& capture, const std::string& stack, const std::string& metric,
                                     int* layers, int* heads);

/// Thumbnails of every head of an on-demand (long input) \p capture's \p stack: \p rows evenly spaced query rows
/// (the first and the last included), each cut into at most \p cols key blocks drawn as their maximum. A capture of
/// small dense matrices ([heads, rows, cols] per layer) with the sampled rows' labels and each key block's first
/// label. Throws InputError when the capture is not on demand.
CaptureResult sampledThumbnails(const CaptureResult& capture, const std::string& stack, int rows, int cols);

/// A preview of an audio file for the input panel: the waveform (min/max per pixel column, top third) over its
/// log-mel spectrogram (80 mel bands, 25 ms windows, 10 ms hop; bottom two thirds), of \p seconds from
/// \p offsetSeconds, as RGB bytes. Throws InputError for unreadable audio (or a build without libsndfile).
struct AudioPreview {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  double fileSeconds = 0;  ///< the whole file's duration
};
AudioPreview audioPreview(const std::string& path, double offsetSeconds, double seconds, int width, int height);

/// Reads a capture file written by `run`/`compare --captures` (attention tensors, labels from its metadata).
/// \p name receives the variant spec or "full". Throws InputError when it is not an AttnScope capture.
CaptureResult loadCaptureFile(const std::string& path, std::string* name = nullptr);

/// The LibTorch version the engine was built with ("1.13.1"), for About boxes and bug reports.
std::string libtorchVersion();

class EngineSession {
 public:
  /// Loads \p dir on \p device ("auto", "cpu", "cuda:N").
  /// \p dir is a model folder or a Hub id in the local cache; \p dtype as loadModel() takes it ("auto", "float32", …).
  static std::unique_ptr<EngineSession> open(const std::string& dir, const std::string& device = "auto",
                                             const std::string& dtype = "auto");
  ~EngineSession();

  const ModelSummary& summary() const;
  /// Whether the model accepts a second text segment (sentence pairs).
  bool acceptsTextPair() const;
  /// Tokenizes and runs \p text (and \p pair when \p hasPair), capturing every layer and head.
  /// \p progress(done, total) is called after every layer; when \p cancelled returns true the
  /// run stops with CancelledError.
  CaptureResult runText(const std::string& text, const std::string& pair, bool hasPair,
                        const std::function<void(int, int)>& progress = {},
                        const std::function<bool()>& cancelled = {});
  /// Runs \p request; throws InputError/ModelLoadError/CancelledError. \p partial, when given, receives on this
  /// thread the layers recorded so far (CaptureResult::partial) as soon as the first one is and then at most once a
  /// second, so views can show them before the forward ends; an on-demand partial capture's cells can be computed on
  /// another thread while the run goes on.
  CaptureResult run(const RunRequest& request, const std::function<void(int, int)>& progress = {},
                    const std::function<bool()>& cancelled = {},
                    const std::function<void(std::shared_ptr<const CaptureResult>)>& partial = {});
  /// Saves the last run as a capture file (the CLI's run contract).
  void saveLastCapture(const std::string& path) const;
  /// Importance of every head (Michel et al. |∂L/∂ξ| by autograd on the model's own objective, per-layer
  /// L2-normalised) for the last run's input, as a [layers × heads] grid. Throws InputError before any run.
  std::vector<float> importance(int* layers, int* heads) const;
  /// The logit lens of the last run's input (the top \p topK tokens per cell; \p target as logitLens() takes it).
  /// Throws InputError before any run, for a model without a token output head, or for a target that is not one
  /// token.
  LensResult logitLens(const std::string& target, int topK = 10);
  /// Direct logit attribution of the last run's input at \p position (−1 = the last) for \p target ("" = the
  /// model's prediction there), on the full model.
  DirectLogitAttribution directLogitAttribution(int64_t position, const std::string& target);
  /// The information-flow graph of the last run's input into \p position (−1 = the last), edges ≥ \p threshold.
  InformationFlowGraph informationFlowGraph(int64_t position, double threshold);
  /// Deletion curves of the last run's input (see deletionCurves()), random orders seeded with 0.
  DeletionResult deletionCurves(const std::vector<std::string>& methods, const std::string& target, int steps);
  /// Greedy generation of up to \p maxNewTokens after \p request's text (text LMs; Whisper continues its decoder
  /// from the audio). The capture holds every position's row, so each generated step's attention can be browsed;
  /// \p promptLength receives the number of prompt positions and predictionText the continuation.
  CaptureResult generate(const RunRequest& request, int maxNewTokens, int* promptLength,
                         const std::function<void(int, int)>& progress = {},
                         const std::function<bool()>& cancelled = {});
  /// Runs \p request under `full` and every spec in \p specs (comparison engine; one timed repeat).
  ComparisonResult compare(const RunRequest& request, const std::vector<std::string>& specs,
                           const std::function<void(int, int)>& progress = {},
                           const std::function<bool()>& cancelled = {});
  /// The pruning sweep (prune-sweep): \p request's input with 0 … 90 % of the heads pruned in one order.
  PruneSweepResult pruneSweep(const RunRequest& request, const PruneSweepOptions& options,
                              const std::function<void(int, int)>& progress = {},
                              const std::function<bool()>& cancelled = {});
  /// The last run's attention drawn over its image or spectrogram (image and audio models).
  /// Returns RGB bytes, width, height and a title.
  struct Picture {
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;
    std::string title;
  };
  Picture overlay(const std::string& stack, int layer, int head, int query, bool rollout, double alpha,
                  const std::string& colormap) const;
  /// The last run's input attributed from \p position (−1 = the method's default) by a token method
  /// (TokenAttribution.h); \p target applies to grad-attn.
  TokenAttribution tokenAttribution(const std::string& method, int64_t position, const std::string& target);
  /// \p a's scores drawn over the last run's picture or spectrogram (image and audio models).
  Picture attributionOverlay(const TokenAttribution& a, double alpha, const std::string& colormap) const;

 private:
  EngineSession();
  /// Writes the last run's capture file for the overlay renderer, once per run.
  void writeOverlayCapture() const;
  struct Impl;
  std::unique_ptr<Impl> m;
};

/// The HF model_types the engine's registered families load (for the Hugging Face cache dialog).
std::vector<std::string> supportedModelTypes();

}  // namespace attnscope

