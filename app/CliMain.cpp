// attnscope-cli: batch access to the engine (info, run, generate).
// Errors go to stderr with exit code 2; --help on every command.
#include <ATen/ops/tensor.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "attnscope/Analysis.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/CaptureFile.h"
#include "attnscope/Compare.h"
#include "attnscope/DeletionCurve.h"
#include "attnscope/Device.h"
#include "attnscope/DirectLogitAttribution.h"
#include "attnscope/Engine.h"
#include "attnscope/EngineSession.h"
#include "attnscope/Errors.h"
#include "attnscope/InformationFlowGraph.h"
#include "attnscope/Llama2cConverter.h"
#include "attnscope/LogitLens.h"
#include "attnscope/Media.h"
#include "attnscope/MemoryBudget.h"
#include "attnscope/OverlayRenderer.h"
#include "attnscope/PruneSweep.h"
#include "attnscope/SafetensorsFile.h"
#include "attnscope/TokenAttribution.h"
#include "attnscope/ValueZeroing.h"
#include "attnscope/WordGroups.h"
#ifdef ATTNSCOPE_CLI_FIGURES
#include "DeletionFigure.h"
#include "DlaFigure.h"
#include "FigureExport.h"
#include "FlowGraphFigure.h"
#include "SweepFigure.h"
#include "TokenScoresFigure.h"
#endif

using namespace attnscope;

namespace {

const char* const kUsage =
    "usage: attnscope-cli <command> [options]\n"
    "\n"
    "commands:\n"
    "  info      describe a model folder\n"
    "  run       run a model on one input and save every head's attention\n"
    "  generate  greedy decoding; optionally save the attention of every step\n"
    "  compare   run attention variants side by side and report what each changes and costs\n"
    "  overlay   draw one query's attention over the input image or the audio's spectrogram\n"
    "  figure    a paper figure of a capture: one head, the layer x head grid, or variants side by side\n"
    "  head      one head (or a block of it) of a capture as a float32 .npy / .safetensors matrix\n"
    "  lens      the logit lens: every layer's residual stream through the model's output head\n"
    "  attribute what each head and MLP contributes to a target logit (dla), attention flow, rollout\n"
    "  flow-graph  the information-flow graph into one position (Ferrando & Voita 2024)\n"
    "  deletion  faithfulness: remove tokens or heads in an attribution's order, follow the target's "
    "probability\n"
    "  prune-sweep  prune 0..90 % of the heads in importance order and measure the output drift\n"
    "  convert-llama2c  turn a llama2.c checkpoint + tokenizer.bin into a Hugging Face model folder\n"
    "\n"
    "Run 'attnscope-cli <command> --help' for the options of a command.\n";

const char* const kPruneSweepHelp =
    "usage: attnscope-cli prune-sweep --model DIR (--text STR | --image PATH | --audio PATH [--offset S]\n"
    "                                  | --inputs FILE.safetensors)\n"
    "                                 [--ratios 0,0.1,...,0.9] [--order importance|entropy|random] [--seed "
    "N]\n"
    "                                 [--repeats N] [--device D] [--dtype D] --out sweep.json\n"
    "                                 [--figure sweep.pdf|svg|png] [--dpi N]\n"
    "\n"
    "Michel et al.'s pruning curve: ranks every head (importance |dL/dxi| of the model's own objective, "
    "least\n"
    "important first; entropy, most diffuse first; or a seeded random order), prunes the first round(ratio x "
    "heads)\n"
    "of them at each ratio (so each point prunes a superset of the previous one) and measures how far the "
    "output\n"
    "drifts from the full model. sweep.json: {model, order, seed, total_heads, ranking,\n"
    "points: [{ratio, pruned: [\"L3H2\", ...], logits_kl, top1_agreement, js_mean, ms}]} (logits_kl and\n"
    "top1_agreement are null for models without logits). --figure draws the curve.\n";

const char* const kInfoHelp =
    "usage: attnscope-cli info --model DIR [--device auto|cpu|cuda[:N]] [--dtype D] [--json]\n"
    "\n"
    "Prints the family, modality, layers, query/kv heads, hidden size, vocabulary,\n"
    "parameter count, the weight dtype on disk and the dtype computed in of a Hugging Face model folder.\n"
    "--dtype auto|float32|bfloat16|float16: auto computes in float32 on the CPU (bf16 -> f32 is exact) and "
    "in\n"
    "the stored 16-bit dtype on CUDA; run, generate and compare take it too.\n";

const char* const kRunHelp =
    "usage: attnscope-cli run --model DIR (--text STR [--text-pair STR | --target STR] | --image PATH\n"
    "                                      | --audio PATH [--offset S]\n"
    "                                      | --inputs FILE.safetensors)\n"
    "                         [--device auto|cpu|cuda[:N]] [--dtype D] [--layers 0,2-5] [--heads 0-3]\n"
    "                         [--logits all|last|none] [--variant SPEC] [--store auto|probs|qk]\n"
    "                         [--memory-budget SIZE] --out capture.safetensors\n"
    "\n"
    "Runs the model once and writes a safetensors capture file:\n"
    "  attentions.<layer>   float32 [heads, q, k] attention probabilities (selected layers/heads; --store "
    "probs)\n"
    "  queries.<layer>, keys.<layer>, lse.<layer>   (--store qk) float32 [heads, q, d], [kv_heads, k, d] and "
    "each\n"
    "                       row's log-sum-exp [heads, q]: every cell is exp(q.k*scale + bias - lse), "
    "computed on demand\n"
    "                       by `head`, `figure`, `overlay` and the GUI; linear in the length instead of "
    "quadratic\n"
    "  last_hidden_state    float32 [T, hidden]\n"
    "  logits               float32 [T, vocab] (language models) or [labels] (classifiers)\n"
    "  input_ids, ...       the exact model inputs (so the file can be fed back with --inputs)\n"
    "  __metadata__         {\"attnscope\": JSON with model, family, token labels, input, prediction}\n"
    "\n"
    "--inputs feeds exact model inputs by their Hugging Face names (input_ids, token_type_ids, "
    "attention_mask,\n"
    "pixel_values, input_values, input_features, decoder_input_ids) for bit-for-bit reproduction.\n"
    "--target (T5, BART): the decoder is teacher-forced with the target text (decoder start token + its "
    "tokens, as\n"
    "HF shifts labels); without it the decoder sees the start token alone.\n"
    "--image: PNG/JPEG/BMP/WebP/TIFF, preprocessed as the model's preprocessor_config.json says.\n"
    "--audio: WAV/FLAC/OGG/MP3, down-mixed and resampled to the model's rate; --offset picks the window "
    "start.\n"
    "--store auto (default) keeps probabilities when they fit the memory budget, else queries and keys, and "
    "says\n"
    "which on stderr. Before anything is allocated the run's peak memory (weights, activations, the store) "
    "is\n"
    "estimated; a run that cannot fit exits 2 naming both numbers. --memory-budget SIZE (8G, 512M) replaces "
    "the\n"
    "default budget: what the machine can give now (MemAvailable, the cgroup limit, ulimit -v, less a "
    "margin).\n"
    "--logits last computes the last position's logits only (logits_last); it is the default when the logits "
    "of\n"
    "every position would exceed 1 GB.\n";

const char* const kHeadHelp =
    "usage: attnscope-cli head --capture FILE --layer L --head H [--stack S] [--rows A-B] [--cols A-B]\n"
    "                          [--fsync] --out FILE.npy|FILE.safetensors\n"
    "\n"
    "Writes the attention probabilities of one head (rows = queries, cols = keys; A-B inclusive, default "
    "all) of a\n"
    "capture of either kind as float32 [rows, cols]: read from a probabilities capture, or computed exactly "
    "from\n"
    "the queries, keys and log-sum-exp of a --store qk capture (row blocks at a time, so a 16k x 16k head "
    "needs no\n"
    "more memory than one block). .safetensors files hold the tensor \"attention\".\n"
    "The file replaces --out only once it is whole (a killed run leaves the old one); it is not flushed to disk\n"
    "first unless --fsync is given (a block is recomputed from the capture in seconds, and a 1 GB head would\n"
    "otherwise wait seconds for the disk).\n";

const char* const kLensHelp =
    "usage: attnscope-cli lens --model DIR (--text STR [--text-pair STR | --decoder-text STR] | --audio PATH |\n"
    "                          --inputs FILE) [--target TOKEN|#ID] [--top K] [--device D] [--dtype D] --out lens.json\n"
    "\n"
    "The logit lens: the residual stream after every layer read through the model's own final norm and token "
    "output\n"
    "head (decoder language models; encoders through their masked-LM head; encoder-decoder models (T5, BART,\n"
    "Whisper) through their decoder, whose tokens --decoder-text gives). For every layer and position: "
    "the top K\n"
    "tokens (default 10) with their probabilities, and the probability and rank of the target — TOKEN (one "
    "token of\n"
    "the vocabulary, or #ID), or by default the token the model itself predicts at that position. The last "
    "layer's\n"
    "lens is the model's own output. lens.json: {model, stack, positions, target, layers: [{layer, "
    "positions: [{\n"
    "position, token, top: [{token, id, p}], target_id, target_p, target_rank}]}]}.\n";

const char* const kAttributeHelp =
    "usage: attnscope-cli attribute --model DIR (--text STR [--decoder-text STR] | --image PATH | --audio PATH |\n"
    "                               --inputs FILE)\n"
    "                               --method dla|flow|rollout|alti|value-zeroing|grad-attn [--position P]\n"
    "                               [--words] [--overlay FILE.png]\n"
    "                               [--target TOKEN|#ID] [--variant SPEC] [--device D] [--dtype D] --out "
    "FILE.json\n"
    "                               [--figure FILE.pdf|svg|png] [--dpi N]\n"
    "\n"
    "Direct logit attribution (dla): the logit of TARGET (one token or #ID; default: the token the model predicts)\n"
    "at position P (default: the last; negative counts from the end) split into what the embeddings, every\n"
    "attention head, every MLP block and the biases write to the residual stream, read through the output head\n"
    "with the final norm's scale frozen at the actual residual, so the parts add up to the logit. Pre-norm models\n"
    "with a token output head (Llama, Qwen2, Mistral, Gemma, Phi-3, GPT-2, GPT-NeoX, OPT), and the decoders of\n"
    "pre-norm encoder-decoder models (T5, Whisper): P is then a decoder position (--decoder-text gives T5's\n"
    "decoder text) and every decoder layer's cross-attention heads are parts too. --variant applies an attention\n"
    "variant first (a pruned head then contributes 0). FILE.json: {method, model, stack (self | decoder),\n"
    "position, token, target_id, target, predicted, logit, p, layers, heads, cross_heads, parts: {embed, L0H0,\n"
    "..., L0.cross.H0, ..., L0.mlp, ..., bias}, sum}. --figure draws the layers x heads grid (and the\n"
    "cross-attention heads' grid) with the MLP column; for the token methods below it draws the scores as bars.\n"
    "\n"
    "Attention flow (flow; Abnar & Zuidema 2020: the maximum flow through the layered graph of "
    "head-averaged\n"
    "attention plus the residual, from the query position at the top to each input position) and attention "
    "rollout\n"
    "(rollout): how much position P (default: the last for decoders, the first — [CLS] — otherwise) draws on "
    "each\n"
    "input position, for text, image (patches) and audio (frames). FILE.json: {method, model, stack, "
    "position, token,\n"
    "scores: [{position, token, value}]}, the values summing to 1.\n"
    "\n"
    "ALTI (alti; Ferrando et al. 2022): per layer, each position's attention-step sum split into one part "
    "per source\n"
    "position (the residual joining its own), scored by proximity (max(0, |y|1 - |y - z|1), normalised), the "
    "layers'\n"
    "matrices multiplied; the same JSON. Every model that reports its residual writes: decoders, encoders, image\n"
    "and audio models, encoder-decoder ones over their encoder; in post-norm models (BERT, KWT, BART) each step's\n"
    "LayerNorm is\n"
    "linearised at the row's sum, as the paper does for BERT.\n"
    "\n"
    "Value zeroing (value-zeroing; Mohebbi et al. 2023): per layer, the cosine distance of each position's "
    "output\n"
    "when one position's values are zeroed in every head of that layer, rows normalised, the layers' "
    "matrices\n"
    "multiplied; layers x positions forwards. Every model with a self-attention stack; the same JSON.\n"
    "\n"
    "Gradient x attention (grad-attn; Chefer et al. 2021): R = I, then per self-attention layer, first first,\n"
    "R += mean over heads of (dA * A)+ . R, with dA the gradient of TARGET's logit (default: the prediction; for\n"
    "classifiers a label name or #INDEX, the class logit) with respect to that layer's attention (autograd through\n"
    "the whole forward); row P of R. The same JSON plus target_id, target, logit; the values do not sum to 1 (the\n"
    "identity's 1 sits at P itself). --variant applies a dense-path variant first. Text, image and audio models.\n"
    "Encoder-decoder models (T5, BART, Whisper): the paper's encoder-decoder rules; P is a decoder position\n"
    "(default: its last), scores cover the encoder's positions (stack \"encoder\", position_stack \"decoder\"),\n"
    "decoder_scores the decoder's own.\n"
    "\n"
    "--overlay FILE.png (image and audio models, token methods) draws the scores over the picture's patches or\n"
    "along the spectrogram's time axis.\n"
    "\n"
    "--words (text) merges sub-word pieces into words: a word's value is the sum of its pieces' values (scores:\n"
    "[{word, token, first, value}], and \"word\" is the scored position's word). A piece continues a word unless it\n"
    "starts with a space, is punctuation or a special token (WordPiece: unless it does not start with ##).\n";

const char* const kFlowGraphHelp =
    "usage: attnscope-cli flow-graph --model DIR (--text STR | --image PATH | --audio PATH | --inputs FILE)\n"
    "                                [--token P] [--threshold X]\n"
    "                                [--device D] [--dtype D] --out graph.json [--figure FILE.pdf|svg|png] "
    "[--dpi N]\n"
    "\n"
    "The information-flow graph (Ferrando & Voita 2024, as in LLM Transparency Tool) into position P "
    "(default: the\n"
    "last for decoders, the first ([CLS]) otherwise; negative counts from the end): each layer's attention step (the residual plus, per source "
    "position, the\n"
    "heads' A·v·W_O) and MLP step, every component scored by its proximity to the sum it enters "
    "(normalised), edges\n"
    "kept from the top down while their importance is at least X (default 0.02). Decoders, encoders, image and\n"
    "audio models (post-norm ones through each step's LayerNorm linearised at the row's sum). graph.json: {method, model, position, token, positions, layers, threshold, edges: [{kind "
    "(attention |\n"
    "residual | mlp), layer, from_level, from, to_level, to, weight, heads: [{head, weight}]}]}; level 2l is "
    "the\n"
    "residual entering layer l, 2l + 1 the residual after its attention. --figure draws the graph (positions "
    "across,\n"
    "levels upwards).\n";

const char* const kDeletionHelp =
    "usage: attnscope-cli deletion --model DIR (--text STR [--decoder-text STR] | --image PATH | --audio PATH\n"
    "                              [--offset S] | --inputs FILE)\n"
    "                              --methods a,b,c [--target TOKEN|#ID|LABEL|#INDEX] [--steps N] [--seed S]\n"
    "                              [--device D] [--dtype D] --out curve.json [--figure FILE.pdf|svg|png] [--dpi N]\n"
    "\n"
    "Deletion curves: remove the input's positions in the order a method ranks them, most important first, at\n"
    "N + 1 evenly spaced fractions (default N = 10), and follow the probability of TARGET. Causal language\n"
    "models: tokens are dropped from the sequence (never the last position or special tokens) and TARGET is a\n"
    "token at the last position (default: the predicted one). Classifiers (text, image, audio): tokens are\n"
    "dropped (not the special ones), an image's patches blanked to 0 (the normalised mean colour), an audio\n"
    "model's frames silenced; TARGET is a class (label or #INDEX; default: the predicted one) and the rankings\n"
    "score the first position ([CLS]). Encoder-decoder models (T5, BART, Whisper): TARGET is the decoder's\n"
    "token at its last position (the decoder reads --decoder-text, else its start token alone; --inputs gives\n"
    "exact ids); the\n"
    "encoder's source tokens are dropped or its frames silenced (log-mel columns set to the features' floor);\n"
    "the rankings that apply are attention (the last layer's cross-attention), grad-attn, random and\n"
    "random-heads. Token methods: rollout, flow (attention flow), attention (the last\n"
    "layer's mean attention of the scored position), alti, value-zeroing, grad-attn (gradient x attention),\n"
    "random (seeded by S); head methods, which prune heads with the prune variant: dla (language models: the\n"
    "heads with the largest direct logit attribution first), random-heads. A faithful ranking falls fastest: a\n"
    "smaller area under the curve.\n"
    "curve.json: {method: \"deletion\", model, position, position_stack (self | decoder), target_id, target,\n"
    "target_kind (token | class), p,\n"
    "unit (tokens | patches | frames),\n"
    "removable, curves: [{method, unit, fractions, probabilities, auc, order}]}. --figure draws every curve on\n"
    "one plot.\n";

const char* const kGenerateHelp =
    "usage: attnscope-cli generate --model DIR (--text STR [--target PREFIX] | --audio PATH [--offset S] | "
    "--inputs FILE)\n"
    "                              --max-new-tokens N\n"
    "                              [--device auto|cpu|cuda[:N]] [--dtype D] [--layers ...] [--heads ...]\n"
    "                              [--variant SPEC] [--out capture.safetensors]\n"
    "\n"
    "Greedy decoding with a key/value cache; prints the prompt and continuation.\n"
    "With --out, saves attentions.<layer> [heads, T, T] where row t is the attention of\n"
    "step t (prompt rows and every generated token), plus input_ids and generated_ids.\n"
    "With --variant (other than full) the full model runs beside the variant on the variant's tokens: each step's\n"
    "KL(full || variant) of the next-token distributions and the full model's top token are printed and stored in\n"
    "the capture's metadata as variant_kl: [{step, token, kl, full_top1, agree}].\n";

const char* const kCompareHelp =
    "usage: attnscope-cli compare --model DIR (--text STR [--text-pair STR] | --image P | --audio P | "
    "--inputs F)\n"
    "                             --variant SPEC [--variant SPEC ...] [--repeats N] [--device ...] [--dtype "
    "D]\n"
    "                             --out report.json [--captures DIR]\n"
    "\n"
    "Runs the model under every variant (the `full` baseline is always run) and writes report.json:\n"
    "per-variant cost (median wall time of N forwards, analytic attention FLOPs and memory, measured peak\n"
    "tensor memory), the prediction, model-level logits KL and top-1 agreement, per-layer hidden-state "
    "drift\n"
    "and per-head JS divergence, KL, top-5 overlap, L2 regulariser and output cosine against `full`.\n"
    "--captures DIR also writes each variant's capture file (the `run` format) into DIR.\n"
    "\n"
    "variants (quote specs in the shell; list values continue after commas, e.g. guide:tokens=3,7,bias=2):\n";

const char* const kOverlayHelp =
    "usage: attnscope-cli overlay --capture FILE (--layer L --head H | --rollout) [--query Q] [--stack S]\n"
    "                             [--alpha A] [--colormap viridis|magma|greys] --out overlay.png\n"
    "\n"
    "Draws the attention of query position Q (default 0, the class token) of a capture written by `run`:\n"
    "over the picture for image models (patches upsampled and alpha-blended), over the spectrogram for "
    "audio\n"
    "models (a time-aligned strip and curve). --rollout uses attention rollout across all captured layers\n"
    "(mean over heads; Abnar & Zuidema 2020) instead of one head. --stack picks encoder/decoder/cross for "
    "Whisper.\n";

const char* const kFigureHelp =
    "usage: attnscope-cli figure --capture FILE (--layer L --head H | --grid | --compare "
    "A.safetensors,B...)\n"
    "                            [--stack S] [--colormap viridis|magma|greys] --format png|svg|pdf [--dpi "
    "N]\n"
    "                            --out FILE\n"
    "\n"
    "Draws with the GUI's views, headless: title, token labels, colour bar; SVG and PDF keep axes and text "
    "as\n"
    "vectors. --grid draws every captured head of every layer; --compare puts --capture (the baseline) and "
    "the\n"
    "listed capture files (e.g. from `compare --captures`) side by side on one colour scale, at "
    "--layer/--head.\n";

const char* const kConvertHelp =
    "usage: attnscope-cli convert-llama2c --checkpoint MODEL.bin --tokenizer TOKENIZER.bin --out DIR\n"
    "\n"
    "Converts a llama2.c release (e.g. karpathy/tinyllamas stories260K.bin + tok512.bin; the legacy "
    "version-0\n"
    "checkpoint format) into a new Hugging Face LlamaForCausalLM folder: config.json, "
    "generation_config.json,\n"
    "model.safetensors (float32; q/k rows permuted to the rotate-half RoPE layout), tokenizer.json (BPE with "
    "byte\n"
    "fallback; merges derived from the token scores), tokenizer_config.json, special_tokens_map.json.\n"
    "DIR must not exist or be empty; nothing is overwritten.\n";

struct Args {
  std::map<std::string, std::string> values;
  std::map<std::string, std::vector<std::string>> all;  // every value of repeatable options
  std::vector<std::string> flags;
  bool has(const std::string& k) const { return values.count(k) != 0; }
  bool flag(const std::string& k) const { return std::find(flags.begin(), flags.end(), k) != flags.end(); }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  std::string require(const std::string& k) const {
    if (!has(k)) throw InputError("missing option --" + k + " (see --help)");
    return values.at(k);
  }
};

Args parseArgs(int argc, char** argv, int start, const std::vector<std::string>& valueOptions,
               const std::vector<std::string>& flagOptions) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) throw InputError("unexpected argument '" + s + "' (see --help)");
    s = s.substr(2);
    std::string value;
    bool inlineValue = false;
    const size_t eq = s.find('=');
    if (eq != std::string::npos) {
      value = s.substr(eq + 1);
      s = s.substr(0, eq);
      inlineValue = true;
    }
    if (std::find(flagOptions.begin(), flagOptions.end(), s) != flagOptions.end()) {
      a.flags.push_back(s);
      continue;
    }
    if (std::find(valueOptions.begin(), valueOptions.end(), s) == valueOptions.end())
      throw InputError("unknown option --" + s + " (see --help)");
    if (!inlineValue) {
      if (i + 1 >= argc) throw InputError("option --" + s + " needs a value");
      value = argv[++i];
    }
    a.values[s] = value;
    a.all[s].push_back(value);
  }
  return a;
}

bool wantsHelp(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

/// --k as a non-negative integer (\p def when absent); InputError naming the option otherwise.
int nonNegativeOption(const Args& a, const std::string& k, int def) {
  if (!a.has(k)) return def;
  const std::string v = a.get(k);
  try {
    size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used != v.size() || x < 0) throw std::invalid_argument(v);
    return x;
  } catch (...) {
    throw InputError("--" + k + " must be a non-negative integer (got '" + v + "')");
  }
}

CaptureSelection selectionFrom(const Args& a) {
  CaptureSelection s;
  s.layers = parseIndexList(a.get("layers"), "--layers");
  s.heads = parseIndexList(a.get("heads"), "--heads");
  return s;
}

std::string humanCount(int64_t n) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2);
  if (n >= 1000000000)
    os << n / 1e9 << " B";
  else if (n >= 1000000)
    os << n / 1e6 << " M";
  else if (n >= 1000)
    os << n / 1e3 << " K";
  else
    os << n;
  return os.str();
}

int cmdInfo(const Args& a) {
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  const ModelInfo& i = m->model->info();
  if (a.flag("json")) {
    nlohmann::json j = {{"family", i.modelType},
                        {"architecture", i.architecture},
                        {"modality", i.modality},
                        {"layers", i.layers},
                        {"heads", i.heads},
                        {"kv_heads", i.kvHeads},
                        {"hidden", i.hidden},
                        {"vocab", i.vocab},
                        {"max_positions", i.maxPositions},
                        {"parameters", i.parameters},
                        {"dtype", i.dtype},
                        {"compute_dtype", i.computeDtype},
                        {"device", i.device},
                        {"head", i.head},
                        {"labels", i.labels},
                        {"tokenizer", m->tokenizer ? m->tokenizer->kind() : "none"}};
    if (!m->tokenizerError.empty()) j["tokenizer_error"] = m->tokenizerError;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model:        " << m->dir << "\n"
            << "family:       " << i.modelType << " (" << i.architecture << ")\n"
            << "modality:     " << i.modality << "\n"
            << "layers:       " << i.layers << "\n"
            << "heads:        " << i.heads << " query, " << i.kvHeads << " key/value\n"
            << "hidden size:  " << i.hidden << "\n"
            << "vocabulary:   " << i.vocab << "\n"
            << "positions:    " << i.maxPositions << "\n"
            << "parameters:   " << humanCount(i.parameters) << " (" << i.parameters << ")\n"
            << "dtype:        " << i.dtype << " on disk, computed in " << i.computeDtype << "\n"
            << "device:       " << i.device << "\n"
            << "head:         " << i.head << "\n"
            << "tokenizer:    "
            << (m->tokenizer                ? m->tokenizer->kind()
                : m->tokenizerError.empty() ? std::string("none")
                                            : "unusable (" + m->tokenizerError + "); exact inputs still run")
            << "\n";
  if (!i.labels.empty()) {
    std::cout << "labels:      ";
    for (const auto& l : i.labels) std::cout << " " << l;
    std::cout << "\n";
  }
  return 0;
}

PreparedInput inputFrom(const LoadedModel& m, const Args& a) {
  int given = 0;
  for (const char* k : {"text", "inputs", "image", "audio"}) given += a.has(k) ? 1 : 0;
  if (given > 1) throw InputError("give one input: --text, --image, --audio or --inputs");
  if (a.has("offset") && !a.has("audio")) throw InputError("--offset only applies with --audio");
  if (a.has("inputs")) return prepareInputsFile(m, a.get("inputs"));
  if (a.has("image")) return prepareImage(m, a.get("image"));
  if (a.has("audio")) {
    double offset = 0;
    if (a.has("offset")) {
      const std::string o = a.get("offset");
      try {
        size_t used = 0;
        offset = std::stod(o, &used);
        if (used != o.size()) throw std::invalid_argument(o);
      } catch (...) {
        throw InputError("--offset must be a number of seconds (got '" + o + "')");
      }
    }
    return prepareAudio(m, a.get("audio"), offset);
  }
  if (!a.has("text"))
    throw InputError("missing input: give --text STR, --image PATH, --audio PATH or --inputs FILE");
  std::optional<std::string> pair;
  if (a.has("text-pair")) pair = a.get("text-pair");
  if (a.has("target")) {
    if (pair) throw InputError("give --text-pair or --target, not both");
    return prepareSeq2Seq(m, a.get("text"), a.get("target"));
  }
  return prepareText(m, a.get("text"), pair);
}

/// The input of a command whose --target names a token of the output (lens, attribute, deletion), not a seq2seq
/// target text; encoder–decoder text models take the decoder's text from --decoder-text instead.
PreparedInput outputTokenInput(const LoadedModel& m, const Args& a) {
  Args input = a;
  input.values.erase("target");
  if (a.has("decoder-text")) {
    if (!m.model->info().encoderDecoder)
      throw InputError("--decoder-text is for encoder-decoder models (T5, BART, Whisper); this one has one stack");
    if (!a.has("text"))
      throw InputError("--decoder-text goes with --text (the encoder's text); with --audio the decoder starts from "
                       "its start tokens (--inputs gives exact decoder ids)");
    input.values["target"] = a.get("decoder-text");
  }
  return inputFrom(m, input);
}

int cmdOverlay(const Args& a) {
  const std::string capture = a.require("capture"), out = a.require("out");
  auto intOpt = [&](const std::string& k, int def) { return nonNegativeOption(a, k, def); };
  OverlayRequest req;
  req.rollout = a.flag("rollout");
  if (!req.rollout && (!a.has("layer") || !a.has("head")))
    throw InputError("give --layer L --head H, or --rollout");
  req.stack = a.get("stack", "");
  req.layer = intOpt("layer", 0);
  req.head = intOpt("head", 0);
  req.query = intOpt("query", 0);
  if (a.has("alpha")) {
    try {
      req.alpha = std::stod(a.get("alpha"));
    } catch (...) {
      req.alpha = -1;
    }
  }
  if (!(req.alpha >= 0 && req.alpha <= 1)) throw InputError("--alpha must be between 0 and 1");
  req.colormap = a.get("colormap", "viridis");
  if (req.colormap != "viridis" && req.colormap != "magma" && req.colormap != "greys")
    throw InputError("--colormap must be viridis, magma or greys");
  writeCaptureOverlay(capture, req, out);
  std::cerr << "wrote " << out << "\n";
  return 0;
}

/// The memory budget of a command: --memory-budget, or what the machine can give now.
std::pair<int64_t, std::string> memoryBudgetFrom(const Args& a) {
  if (a.has("memory-budget"))
    return {parseMemorySize(a.get("memory-budget"), "--memory-budget"), "--memory-budget"};
  return {availableMemory(), "what this machine can give now"};
}

int cmdRun(const Args& a) {
  const std::string out = a.require("out");
  LogitsMode logits = LogitsMode::All;
  const std::string lm = a.get("logits", "all");
  if (lm == "last")
    logits = LogitsMode::Last;
  else if (lm == "none")
    logits = LogitsMode::None;
  else if (lm != "all")
    throw InputError("--logits must be all, last or none (got '" + lm + "')");
  const std::string store = a.get("store", "auto");
  if (store != "auto" && store != "probs" && store != "qk")
    throw InputError("--store must be auto, probs or qk (got '" + store + "')");
  CaptureSelection sel = selectionFrom(a);
  const auto [budget, budgetSource] = memoryBudgetFrom(a);
  const std::string dir = a.require("model"), device = a.get("device", "auto"),
                    dtype = a.get("dtype", "auto");
  if (std::filesystem::is_directory(dir)) {
    const int64_t weights = estimateWeightBytes(dir, device, dtype);
    if (weights > budget)
      throw OutOfMemoryError("the weights alone need about " + formatGigabytes(weights) +
                             " but the memory budget is " + formatGigabytes(budget) + " (" + budgetSource +
                             ")");
  }
  auto m = guardAllocations([&] { return loadModel(dir, device, dtype); }, "loading the model");
  PreparedInput in = inputFrom(*m, a);
  std::unique_ptr<AttentionVariant> variant;
  if (a.has("variant")) {
    variant = makeVariant(a.get("variant"));
    variant->prepare(*m, in);
  }
  const bool plainAttention = !variant || variant->isIdentity();
  if (store == "qk" && !plainAttention)
    throw InputError("the variant '" + variant->spec() +
                     "' cannot be stored as queries and keys (its attention is not " +
                     "exp(q.k*scale + bias - lse)); use --store probs");
  // Long inputs: the logits of every position can outweigh everything else; without --logits, keep the last.
  bool lastLogits = logits == LogitsMode::Last;
  if (!a.has("logits") && allLogitsBytes(*m, in) > (int64_t(1) << 30)) {
    lastLogits = true;
    std::cerr << "note: the logits of all " << in.labels.size() << " positions would take "
              << formatGigabytes(allLogitsBytes(*m, in))
              << "; keeping the last position's (--logits all keeps every one)\n";
  }
  CaptureSelection probs = sel, qk = sel;
  probs.kind = CaptureKind::Probabilities;
  qk.kind = CaptureKind::QueryKey;
  const MemoryEstimate probsEstimate = estimateRun(*m, in, probs, lastLogits, !plainAttention),
                       qkEstimate = estimateRun(*m, in, qk, lastLogits, !plainAttention);
  if (store == "qk" || (store == "auto" && autoStoreKind(probsEstimate, budget, plainAttention) ==
                                               CaptureKind::QueryKey))
    sel = qk;
  else
    sel = probs;
  const MemoryEstimate& estimate = sel.kind == CaptureKind::QueryKey ? qkEstimate : probsEstimate;
  checkFits(estimate, sel.kind, budget, budgetSource);
  if (store == "auto")
    std::cerr << "store: " << (sel.kind == CaptureKind::QueryKey ? "queries and keys" : "probabilities")
              << " (run needs about " << estimate.describe(sel.kind) << "; budget " << formatGigabytes(budget)
              << ")\n";
  RunResult r = runModel(*m, in, sel, nullptr, variant.get(), lastLogits);
  saveCapture(out, *m, in, r, logits);
  std::cerr << "tokens (" << in.labels.size() << "):";
  const size_t shown = std::min<size_t>(in.labels.size(), 64);
  for (size_t i = 0; i < shown; ++i) std::cerr << " [" << in.labels[i] << "]";
  if (shown < in.labels.size()) std::cerr << " ... (" << in.labels.size() - shown << " more)";
  std::cerr << "\nforward: " << std::fixed << std::setprecision(1) << r.seconds * 1000 << " ms on "
            << m->model->info().device << "\n";
  if (!r.prediction.empty()) std::cout << r.prediction.dump() << "\n";
  const size_t tensors = r.capture->records().size() + r.capture->queryKeys().size();
  std::cerr << "wrote " << out << " (" << tensors << " attention layers, "
            << (sel.kind == CaptureKind::QueryKey ? "queries and keys" : "probabilities") << ")\n";
  return 0;
}

/// "A-B" (inclusive) or "A" within [0, n): first and count; "" = everything.
std::pair<int64_t, int64_t> rangeOption(const Args& a, const std::string& key, int64_t n) {
  const std::string text = a.get(key, "");
  if (text.empty()) return {0, n};
  auto number = [&](const std::string& t) {
    int64_t v = -1;
    if (!parseNonNegativeInt(t, &v))
      throw InputError("--" + key + " must be A-B or A with non-negative integers (got '" + text + "')");
    return v;
  };
  const auto dash = text.find('-');
  const int64_t lo = number(dash == std::string::npos ? text : text.substr(0, dash));
  const int64_t hi = dash == std::string::npos ? lo : number(text.substr(dash + 1));
  if (hi < lo) throw InputError("--" + key + " range '" + text + "' is reversed");
  if (hi >= n) throw InputError("--" + key + " " + text + " is outside 0-" + std::to_string(n - 1));
  return {lo, hi - lo + 1};
}

int cmdLens(const Args& a) {
  const std::string out = a.require("out");
  int64_t top = 10;
  if (a.has("top") && (!parseNonNegativeInt(a.get("top"), &top) || top < 1 || top > 1000))
    throw InputError("--top must be a whole number in 1..1000 (got '" + a.get("top") + "')");
  auto m = guardAllocations(
      [&] { return loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto")); },
      "loading the model");
  PreparedInput in = outputTokenInput(*m, a);
  const nlohmann::json lens = guardAllocations(
      [&] { return logitLens(*m, in, a.get("target", ""), static_cast<int>(top)); }, "the logit lens");
  writeFileAtomically(out, lens.dump(1) + "\n");
  std::cerr << "wrote " << out << " (" << lens["layers"].size() << " layers x " << lens["positions"].size()
            << " positions)\n";
  return 0;
}

/// --figure FILE (.pdf, .svg or .png), checked before any work; "" when absent. Refused when built without
/// Qt.
std::string figureArg(const Args& a) {
  if (!a.has("figure")) return "";
  const std::string figure = a.get("figure");
  const std::string ext = std::filesystem::path(figure).extension().string();
  if (ext != ".pdf" && ext != ".svg" && ext != ".png")
    throw InputError("--figure must end in .pdf, .svg or .png (got '" + figure + "')");
#ifndef ATTNSCOPE_CLI_FIGURES
  throw InputError(
      "this attnscope-cli was built without Qt (ATTNSCOPE_BUILD_GUI=OFF): --figure is unavailable");
#endif
  return figure;
}

/// --dpi N for figures: 36..2400, 300 when absent.
int dpiArg(const Args& a) {
  int64_t dpi = 300;
  if (a.has("dpi") && (!parseNonNegativeInt(a.get("dpi"), &dpi) || dpi < 36 || dpi > 2400))
    throw InputError("--dpi must be a whole number in 36..2400 (got '" + a.get("dpi") + "')");
  return static_cast<int>(dpi);
}

/// An optional whole number that may be negative (a position counted from the end); \p fallback when absent.
int64_t signedArg(const Args& a, const std::string& key, int64_t fallback) {
  if (!a.has(key)) return fallback;
  const std::string v = a.get(key);
  size_t used = 0;
  int64_t n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != v.size()) throw InputError("--" + key + " must be an integer (got '" + v + "')");
  return n;
}

/// Runs \p render for --figure \p figure (nothing when ""), its failure becoming the CLI's InputError.
template <class Render>
void drawFigure(const std::string& figure, Render render) {
  if (figure.empty()) return;
  try {
    render();
  } catch (const std::runtime_error& e) {
    throw InputError(std::string("--figure: ") + e.what());
  }
  std::cerr << "wrote " << figure << "\n";
}

/// Token scores of \p doc merged into words (--words): each word's value is the sum of its pieces' (attribution over
/// sources); "word" is the word of the scored position.
nlohmann::json scoresByWord(nlohmann::json doc) {
  std::vector<std::string> labels;
  std::vector<double> values;
  for (const auto& s : doc.at("scores")) {
    labels.push_back(s.at("token").get<std::string>());
    values.push_back(s.at("value").get<double>());
  }
  const WordGroups words = wordGroups(labels);
  const std::vector<double> sums = sumByWord(words, values);
  nlohmann::json list = nlohmann::json::array();
  for (size_t k = 0; k < sums.size(); ++k)
    list.push_back({{"word", k}, {"token", words.labels[k]}, {"first", words.first[k]}, {"value", sums[k]}});
  doc["scores"] = list;
  doc["words"] = true;
  doc["rule"] = "a word's value is the sum of its pieces' values";
  if (doc.value("position_stack", "") == doc.value("stack", ""))  // the scored position is among the scores
    doc["word"] = words.wordOf.at(doc.at("position").get<size_t>());
  return doc;
}

/// "grad-attn of position 12 ' named'" — or "… of decoder position 0 '</s>'" when the scored position is not among
/// the scores (an encoder–decoder model's decoder).
std::string scoresTitle(const nlohmann::json& doc) {
  const std::string sequence = doc.at("position_stack") == doc.at("stack") ? "" : doc.at("position_stack").get<std::string>() + " ";
  return doc.at("method").get<std::string>() + " of " + sequence + "position " +
         std::to_string(doc.at("position").get<int64_t>()) + " '" + doc.at("token").get<std::string>() + "'";
}

/// Draws the token scores of \p doc over the input picture's patches or along the spectrogram (--overlay): the
/// overlay reads the input's layout from a capture file, written to a temporary folder and removed after.
void drawScoresOverlay(LoadedModel& m, const PreparedInput& in, const nlohmann::json& doc, const std::string& png) {
  std::vector<double> values;
  for (const auto& s : doc.at("scores")) values.push_back(s.at("value").get<double>());
  const at::Tensor weights = at::tensor(values, at::TensorOptions().dtype(at::kDouble));  // [T]
  CaptureSelection first;
  first.layers = {0};
  const RunResult r = guardAllocations([&] { return runModel(m, in, first); }, "the forward pass");
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::temp_directory_path(ec) /
                                    ("attnscope-overlay-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir, ec);
  const std::string capture = (dir / "input.safetensors").string();
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code e;
      std::filesystem::remove_all(dir, e);
    }
  } cleanup{dir};
  saveCapture(capture, m, in, r, LogitsMode::None);
  const std::string title =
      scoresTitle(doc) + (doc.contains("target") ? " for " + doc.at("target").get<std::string>() : "");
  renderOverlay(capture, weights, title, png);
  std::cerr << "wrote " << png << "\n";
}

int cmdAttribute(const Args& a) {
  const std::string out = a.require("out");
  const std::string method = a.require("method");
  if (method != "dla" && method != "flow" && method != "rollout" && method != "alti" &&
      method != "value-zeroing" && method != "grad-attn")
    throw InputError("--method '" + method +
                     "': expected dla (direct logit attribution), flow (attention flow), "
                     "rollout (attention rollout), alti, value-zeroing or grad-attn (gradient x attention)");
  if (method == "dla" && a.flag("words"))
    throw InputError("--words merges token scores (flow, rollout, alti, value-zeroing); dla's parts are heads");
  if (method != "dla" && method != "grad-attn" && (a.has("target") || a.has("variant")))
    throw InputError("--target and --variant belong to --method dla and grad-attn");
  const std::string overlay = a.get("overlay", "");
  if (a.has("overlay") && (method == "dla" || a.flag("words")))
    throw InputError("--overlay draws token scores over an image or a spectrogram; not with dla or --words");
  if (a.has("overlay") && (overlay.size() < 4 || overlay.substr(overlay.size() - 4) != ".png"))
    throw InputError("--overlay must end in .png (got '" + overlay + "')");
  const int64_t position = signedArg(a, "position", -1);
  const std::string figure = figureArg(a);
  const int dpi = dpiArg(a);
  auto m = guardAllocations(
      [&] { return loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto")); },
      "loading the model");
  if (a.has("overlay") && m->model->info().modality == "text")
    throw InputError("--overlay is for image and audio models; this one reads text (use --figure)");
  PreparedInput in = outputTokenInput(*m, a);
  std::unique_ptr<AttentionVariant> variant;
  if (a.has("variant") && a.get("variant") != "full") {
    variant = makeVariant(a.get("variant"));
    variant->prepare(*m, in);
  }
  if (method != "dla") {
    nlohmann::json doc = guardAllocations(
        [&] {
          return toJson(tokenAttribution(*m, in, method, a.has("position") ? std::optional<int64_t>(position)
                                                                           : std::nullopt,
                                         a.get("target", ""), variant.get()));
        },
        "the " + method + " scores");
    if (a.flag("words")) doc = scoresByWord(std::move(doc));
#ifdef ATTNSCOPE_CLI_FIGURES
    TokenScores bars;
    for (const auto& s : doc["scores"]) {
      bars.labels.push_back(s["token"].get<std::string>());
      bars.values.push_back(s["value"].get<double>());
    }
    const bool ownSequence = doc["position_stack"] == doc["stack"];
    bars.highlight = doc.contains("word") ? doc["word"].get<int>() : ownSequence ? doc["position"].get<int>() : -1;
    if (method == "grad-attn") bars.valueLabel = "relevance";
    bars.title = scoresTitle(doc) + (a.flag("words") ? " (words)" : "");
#endif
    writeFileAtomically(out, doc.dump(1) + "\n");
    std::cerr << "wrote " << out << ": " << method << " of " << doc["position_stack"].get<std::string>()
              << " position " << doc["position"] << " over " << doc["scores"].size() << " "
              << doc["stack"].get<std::string>() << (a.flag("words") ? " words\n" : " positions\n");
#ifdef ATTNSCOPE_CLI_FIGURES
    drawFigure(figure, [&] { renderTokenScoresFigureHeadless(bars, figure, dpi); });
#endif
    if (!overlay.empty()) drawScoresOverlay(*m, in, doc, overlay);
    return 0;
  }
  const DirectLogitAttribution dla = guardAllocations(
      [&] { return directLogitAttribution(*m, in, position, a.get("target", ""), variant.get()); },
      "direct logit attribution");
  writeFileAtomically(out, toJson(dla).dump(1) + "\n");
  std::cerr << "wrote " << out << ": logit of '" << dla.targetToken << "' at position " << dla.position
            << " = " << dla.logit << " (sum of the parts " << dla.sum() << ")\n";
#ifdef ATTNSCOPE_CLI_FIGURES
  drawFigure(figure, [&] { renderDlaFigureHeadless(dla, figure, dpi); });
#endif
  return 0;
}

int cmdFlowGraph(const Args& a) {
  const std::string out = a.require("out");
  const int64_t position = signedArg(a, "token", -1);
  double threshold = 0.02;
  if (a.has("threshold")) {
    const std::string v = a.get("threshold");
    size_t used = 0;
    try {
      threshold = std::stod(v, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != v.size() || !(threshold > 0 && threshold <= 1))
      throw InputError("--threshold must be a number in (0, 1] (got '" + v + "')");
  }
  const int dpi = dpiArg(a);
  const std::string figure = figureArg(a);
  auto m = guardAllocations(
      [&] { return loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto")); },
      "loading the model");
  PreparedInput in = inputFrom(*m, a);
  const InformationFlowGraph graph = guardAllocations(
      [&] { return informationFlowGraph(*m, in, position, threshold); }, "the information-flow graph");
  writeFileAtomically(out, toJson(graph).dump(1) + "\n");
  std::cerr << "wrote " << out << ": " << graph.edges.size() << " edges into position " << graph.position
            << "\n";
#ifdef ATTNSCOPE_CLI_FIGURES
  drawFigure(figure, [&] { renderFlowGraphFigureHeadless(graph, figure, dpi); });
#endif
  return 0;
}

int cmdDeletion(const Args& a) {
  const std::string out = a.require("out");
  std::vector<std::string> methods;
  std::stringstream list(a.require("methods"));
  for (std::string item; std::getline(list, item, ',');)
    if (!item.empty()) methods.push_back(item);
  int64_t steps = 10, seed = 0;
  if (a.has("steps") && (!parseNonNegativeInt(a.get("steps"), &steps) || steps < 1 || steps > 100))
    throw InputError("--steps must be a whole number in 1..100 (got '" + a.get("steps") + "')");
  if (a.has("seed") && !parseNonNegativeInt(a.get("seed"), &seed))
    throw InputError("--seed must be a whole number (got '" + a.get("seed") + "')");
  const int dpi = dpiArg(a);
  const std::string figure = figureArg(a);
  const std::vector<std::string> known = deletionMethods();
  for (const std::string& method : methods)
    if (std::find(known.begin(), known.end(), method) == known.end())
      throw InputError("--methods: unknown method '" + method +
                       "' (known: rollout, flow, attention, alti, value-zeroing, grad-attn, random, dla, random-heads)");
  auto m = guardAllocations(
      [&] { return loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto")); },
      "loading the model");
  PreparedInput in = outputTokenInput(*m, a);
  const DeletionResult result = guardAllocations(
      [&] {
        return deletionCurves(*m, in, methods, a.get("target", ""), static_cast<int>(steps),
                              static_cast<uint64_t>(seed));
      },
      "the deletion curves");
  writeFileAtomically(out, toJson(result).dump(1) + "\n");
  for (const DeletionCurve& c : result.curves)
    std::cout << std::left << std::setw(14) << c.method << " AUC " << std::fixed << std::setprecision(4)
              << c.auc << "\n";
  std::cerr << "wrote " << out << "\n";
#ifdef ATTNSCOPE_CLI_FIGURES
  drawFigure(figure, [&] { renderDeletionFigureHeadless(result, figure, dpi); });
#endif
  return 0;
}

int cmdHead(const Args& a) {
  const auto capture = CaptureFile::open(a.require("capture"));
  const std::string out = a.require("out");
  const std::vector<std::string> stacks = capture->stacks();
  const std::string stack = a.get("stack", stacks.front());
  if (std::find(stacks.begin(), stacks.end(), stack) == stacks.end()) {
    std::string have;
    for (const auto& s : stacks) have += (have.empty() ? "" : ", ") + s;
    throw InputError("the capture has no stack '" + stack + "' (it has " + have + ")");
  }
  if (!a.has("layer") || !a.has("head")) throw InputError("give --layer L and --head H");
  const int layer = nonNegativeOption(a, "layer", -1), head = nonNegativeOption(a, "head", -1);
  const auto [tq, tk] = capture->shape(stack, layer);
  const auto [row0, rows] = rangeOption(a, "rows", tq);
  const auto [col0, cols] = rangeOption(a, "cols", tk);
  const auto start = std::chrono::steady_clock::now();
  guardAllocations([&] { writeHeadBlock(*capture, stack, layer, head, row0, rows, col0, cols, out, a.flag("fsync")); },
                   "the head");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "wrote " << out << " (" << rows << " x " << cols << " float32, "
            << (capture->kind() == CaptureKind::QueryKey ? "computed from queries and keys"
                                                         : "read from probabilities")
            << ", " << std::fixed << std::setprecision(0) << ms << " ms)\n";
  return 0;
}

int cmdGenerate(const Args& a) {
  const std::string n = a.require("max-new-tokens");
  int maxNew = 0;
  try {
    size_t used = 0;
    maxNew = std::stoi(n, &used);
    if (used != n.size()) throw std::invalid_argument(n);
  } catch (...) {
    throw InputError("--max-new-tokens must be an integer (got '" + n + "')");
  }
  const CaptureSelection sel = selectionFrom(a);
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  PreparedInput in = inputFrom(*m, a);
  std::unique_ptr<AttentionVariant> variant;
  if (a.has("variant")) {
    variant = makeVariant(a.get("variant"));
    variant->prepare(*m, in);
  }
  GenerateResult g = generate(*m, in, maxNew, sel, nullptr, variant.get());
  std::cout << g.text << "\n";
  std::cerr << "generated " << (g.ids.size() - g.promptLength) << " tokens in " << std::fixed
            << std::setprecision(1) << g.seconds * 1000 << " ms\n";
  if (!g.stepKl.empty()) {
    // The variant against the full model, step by step (the full model follows the variant's tokens).
    std::cerr << "step  token                KL(full||" << g.variant << ")  full's top token\n";
    for (const auto& s : stepKlJson(*m, g))
      std::cerr << std::setw(4) << s["step"].get<int>() << "  " << std::left << std::setw(20)
                << ("'" + s["token"].get<std::string>() + "'") << std::right << std::setw(10) << std::setprecision(4)
                << s["kl"].get<double>() << "   " << (s["agree"].get<bool>() ? "same" : "'" + s["full_top1"].get<std::string>() + "'")
                << "\n";
  }
  if (a.has("out")) {
    saveGeneration(a.get("out"), *m, in, g);
    std::cerr << "wrote " << a.get("out") << "\n";
  }
  return 0;
}

std::string fileNameFor(size_t index, const std::string& spec) {
  std::string s;
  for (char c : spec) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  if (s.size() > 80) s.resize(80);
  std::string n = std::to_string(index);
  if (n.size() < 2) n = "0" + n;
  return n + "-" + s + ".safetensors";
}

int cmdCompare(const Args& a) {
  const std::string out = a.require("out");
  if (!a.all.count("variant")) throw InputError("missing option --variant SPEC (give one or more)");
  CompareOptions options;
  const std::string rep = a.get("repeats", "3");
  try {
    size_t used = 0;
    options.repeats = std::stoi(rep, &used);
    if (used != rep.size()) throw std::invalid_argument(rep);
  } catch (...) {
    throw InputError("--repeats must be an integer (got '" + rep + "')");
  }
  for (const auto& spec : a.all.at("variant")) makeVariant(spec);  // fail before loading the model
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  PreparedInput in = inputFrom(*m, a);
  Comparison c = compareVariants(*m, in, a.all.at("variant"), options);
  if (a.has("captures")) {
    const std::string dir = a.get("captures");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw InputError("--captures: cannot create folder '" + dir + "': " + ec.message());
    nlohmann::json files = nlohmann::json::array();
    for (size_t i = 0; i < c.outcomes.size(); ++i) {
      const std::string path = (std::filesystem::path(dir) / fileNameFor(i, c.outcomes[i].spec)).string();
      saveCapture(path, *m, in, c.outcomes[i].run);
      c.report["variants"][i]["capture"] = path;
    }
  }
  writeFileAtomically(out, c.report.dump(2) + "\n");
  // A readable summary on stdout.
  std::cout << std::left << std::setw(34) << "variant" << std::right << std::setw(11) << "time ms"
            << std::setw(9) << "x full" << std::setw(10) << "flops" << std::setw(10) << "attn mem"
            << std::setw(10) << "mean JS" << std::setw(10) << "top-1"
            << "\n";
  for (const auto& v : c.report["variants"]) {
    const auto& mm = v["model_metrics"];
    std::cout << std::left << std::setw(34) << v["spec"].get<std::string>() << std::right << std::fixed
              << std::setprecision(1) << std::setw(11) << v["cost"]["seconds_median"].get<double>() * 1000
              << std::setprecision(2) << std::setw(9) << v["cost"]["time_ratio"].get<double>()
              << std::setw(10) << v["cost"]["flops_ratio"].get<double>() << std::setw(10)
              << v["cost"]["attention_bytes_ratio"].get<double>() << std::setprecision(4) << std::setw(10)
              << mm.value("js_mean", 0.0) << std::setprecision(3) << std::setw(10)
              << (mm.contains("top1_agreement") ? mm["top1_agreement"].get<double>() : 1.0) << "\n";
  }
  std::cerr << "wrote " << out << "\n";
  return 0;
}

int cmdPruneSweep(const Args& a) {
  const std::string out = a.require("out");
  PruneSweepOptions options;
  if (a.has("ratios")) options.ratios = parseRatios(a.get("ratios"));
  options.order = a.get("order", "importance");
  if (options.order != "importance" && options.order != "entropy" && options.order != "random")
    throw InputError("--order must be importance, entropy or random (got '" + options.order + "')");
  auto integer = [&](const std::string& name, const std::string& fallback, long long lo) {
    const std::string v = a.get(name, fallback);
    size_t used = 0;
    long long n = 0;
    try {
      n = std::stoll(v, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != v.size() || n < lo)
      throw InputError("--" + name + " must be an integer >= " + std::to_string(lo) + " (got '" + v + "')");
    return n;
  };
  options.seed = static_cast<uint64_t>(integer("seed", "0", 0));
  options.repeats = static_cast<int>(std::min<long long>(integer("repeats", "1", 1), 100));
  const int dpi = static_cast<int>(integer("dpi", "300", 36));
  const std::string figure = figureArg(a);
  auto m = loadModel(a.require("model"), a.get("device", "auto"), a.get("dtype", "auto"));
  PreparedInput in = inputFrom(*m, a);
  const PruneSweepResult sweep = pruneSweep(*m, in, options);
  writeFileAtomically(out, sweep.toJson(m->dir).dump(2) + "\n");
  std::cout << std::right << std::setw(7) << "ratio" << std::setw(8) << "heads" << std::setw(12)
            << "logits KL" << std::setw(10) << "top-1" << std::setw(10) << "mean JS" << std::setw(10) << "ms"
            << "\n";
  for (const auto& p : sweep.points)
    std::cout << std::fixed << std::setprecision(2) << std::setw(7) << p.ratio << std::setw(8)
              << p.pruned.size() << std::setprecision(4) << std::setw(12) << p.logitsKl
              << std::setprecision(3) << std::setw(10) << p.top1Agreement << std::setprecision(4)
              << std::setw(10) << p.jsMean << std::setprecision(1) << std::setw(10) << p.ms << "\n";
  std::cerr << "wrote " << out << "\n";
#ifdef ATTNSCOPE_CLI_FIGURES
  if (!figure.empty()) {
    SweepCurve curve;
    curve.title = std::filesystem::path(m->dir).filename().string() + ": pruning by " + sweep.order;
    for (const auto& p : sweep.points) {
      curve.ratios.push_back(p.ratio);
      curve.logitsKl.push_back(p.logitsKl);
      curve.top1.push_back(p.top1Agreement);
      curve.jsMean.push_back(p.jsMean);
    }
    drawFigure(figure, [&] { renderSweepFigureHeadless(curve, figure, dpi); });
  }
#endif
  return 0;
}

int cmdFigure(const Args& a) {
#ifndef ATTNSCOPE_CLI_FIGURES
  throw InputError(
      "this attnscope-cli was built without Qt (ATTNSCOPE_BUILD_GUI=OFF): figures are unavailable");
#else
  FigureRequest r;
  r.out = a.require("out");
  r.format = a.get("format", "");
  if (r.format.empty()) {
    const auto dot = r.out.rfind('.');
    r.format = dot == std::string::npos ? "png" : r.out.substr(dot + 1);
  }
  r.stack = a.get("stack", "");
  r.colormap = a.get("colormap", "viridis");
  auto intOpt = [&](const std::string& k, int def) { return nonNegativeOption(a, k, def); };
  r.layer = intOpt("layer", 0);
  r.head = intOpt("head", 0);
  r.dpi = intOpt("dpi", 150);
  std::vector<CaptureResult> caps;
  std::vector<std::string> names;
  std::string name;
  caps.push_back(loadCaptureFile(a.require("capture"), &name));
  names.push_back(name);
  if (a.flag("grid")) {
    r.kind = "grid";
  } else if (a.has("compare")) {
    r.kind = "compare";
    std::stringstream ss(a.get("compare"));
    std::string f;
    while (std::getline(ss, f, ',')) {
      caps.push_back(loadCaptureFile(f, &name));
      names.push_back(name);
    }
  } else if (!a.has("layer") || !a.has("head")) {
    throw InputError("give --layer L --head H, --grid, or --compare FILES");
  }
  try {
    renderFigureHeadless(r, caps, names);
  } catch (const AttnScopeError&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw InputError(e.what());
  }
  std::cerr << "wrote " << r.out << "\n";
  return 0;
#endif
}

int cmdConvertLlama2c(const Args& a) {
  const Llama2cConversion c =
      convertLlama2c(a.require("checkpoint"), a.require("tokenizer"), a.require("out"));
  std::cout << "converted: llama, " << c.layers << " layers, " << c.heads << " heads (" << c.kvHeads
            << " kv), hidden " << c.dim << ", ffn " << c.hiddenDim << ", vocab " << c.vocab << " ("
            << c.merges << " merges), " << c.seqLen << " positions, "
            << (c.sharedClassifier ? "tied" : "separate") << " output embedding\n";
  for (const auto& f : c.files) std::cout << "  " << a.get("out") << "/" << f << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "info") {
      if (wantsHelp(argc, argv)) return std::cout << kInfoHelp, 0;
      return cmdInfo(parseArgs(argc, argv, 2, {"model", "device", "dtype"}, {"json"}));
    }
    if (cmd == "run") {
      if (wantsHelp(argc, argv)) return std::cout << kRunHelp, 0;
      return cmdRun(
          parseArgs(argc, argv, 2,
                    {"model", "text", "text-pair", "target", "inputs", "image", "audio", "offset", "device",
                     "dtype", "layers", "heads", "out", "logits", "variant", "store", "memory-budget"},
                    {}));
    }
    if (cmd == "head") {
      if (wantsHelp(argc, argv)) return std::cout << kHeadHelp, 0;
      return cmdHead(
          parseArgs(argc, argv, 2, {"capture", "layer", "head", "stack", "rows", "cols", "out"}, {"fsync"}));
    }
    if (cmd == "lens") {
      if (wantsHelp(argc, argv)) return std::cout << kLensHelp, 0;
      return cmdLens(
          parseArgs(argc, argv, 2,
                    {"model", "text", "text-pair", "inputs", "audio", "offset", "decoder-text", "target", "top",
                     "device", "dtype", "out"},
                    {}));
    }
    if (cmd == "deletion") {
      if (wantsHelp(argc, argv)) return std::cout << kDeletionHelp, 0;
      return cmdDeletion(parseArgs(argc, argv, 2,
                                   {"model", "text", "decoder-text", "inputs", "image", "audio", "offset", "methods",
                                    "target", "steps", "seed", "device", "dtype", "out", "figure", "dpi"},
                                   {}));
    }
    if (cmd == "flow-graph") {
      if (wantsHelp(argc, argv)) return std::cout << kFlowGraphHelp, 0;
      return cmdFlowGraph(parseArgs(
          argc, argv, 2,
          {"model", "text", "text-pair", "inputs", "image", "audio", "offset", "token", "threshold", "device", "dtype",
           "out", "figure", "dpi"},
          {}));
    }
    if (cmd == "attribute") {
      if (wantsHelp(argc, argv)) return std::cout << kAttributeHelp, 0;
      return cmdAttribute(
          parseArgs(argc, argv, 2,
                    {"model", "text", "text-pair", "decoder-text", "inputs", "image", "audio", "offset", "method",
                     "position", "target", "variant", "device", "dtype", "out", "figure", "dpi", "overlay"},
                    {"words"}));
    }
    if (cmd == "generate") {
      if (wantsHelp(argc, argv)) return std::cout << kGenerateHelp, 0;
      return cmdGenerate(parseArgs(argc, argv, 2,
                                   {"model", "text", "target", "inputs", "audio", "offset", "max-new-tokens",
                                    "device", "dtype", "layers", "heads", "out", "variant"},
                                   {}));
    }
    if (cmd == "compare") {
      if (wantsHelp(argc, argv)) {
        std::cout << kCompareHelp;
        for (const auto& [name, kind] : variantKinds())
          std::cout << "  " << std::left << std::setw(10) << name << kind.summary << "\n";
        return 0;
      }
      return cmdCompare(parseArgs(argc, argv, 2,
                                  {"model", "text", "text-pair", "target", "inputs", "image", "audio",
                                   "offset", "device", "dtype", "variant", "repeats", "out", "captures"},
                                  {}));
    }
    if (cmd == "prune-sweep") {
      if (wantsHelp(argc, argv)) return std::cout << kPruneSweepHelp, 0;
      return cmdPruneSweep(
          parseArgs(argc, argv, 2,
                    {"model", "text", "text-pair", "target", "inputs", "image", "audio", "offset", "device",
                     "dtype", "ratios", "order", "seed", "repeats", "out", "figure", "dpi"},
                    {}));
    }
    if (cmd == "figure") {
      if (wantsHelp(argc, argv)) return std::cout << kFigureHelp, 0;
      return cmdFigure(parseArgs(
          argc, argv, 2, {"capture", "layer", "head", "compare", "stack", "colormap", "format", "dpi", "out"},
          {"grid"}));
    }
    if (cmd == "overlay") {
      if (wantsHelp(argc, argv)) return std::cout << kOverlayHelp, 0;
      return cmdOverlay(parseArgs(argc, argv, 2,
                                  {"capture", "layer", "head", "query", "stack", "alpha", "colormap", "out"},
                                  {"rollout"}));
    }
    if (cmd == "convert-llama2c") {
      if (wantsHelp(argc, argv)) return std::cout << kConvertHelp, 0;
      return cmdConvertLlama2c(parseArgs(argc, argv, 2, {"checkpoint", "tokenizer", "out"}, {}));
    }
    std::cerr << "attnscope-cli: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  } catch (const AttnScopeError& e) {
    std::cerr << "attnscope-cli " << cmd << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    if (isAllocationFailure(e)) {
      std::cerr << "attnscope-cli " << cmd
                << ": error: out of memory: the machine could not give what this command "
                << "needed (use a shorter input, fewer layers or heads, or --store qk)\n";
      return 2;
    }
    // Not a problem with the input: a bug. One line, no stack trace, and how to report it.
    std::string what = e.what();
    const size_t newline = what.find('\n');
    if (newline != std::string::npos) what = what.substr(0, newline);
    std::cerr << "attnscope-cli " << cmd << ": internal error (a bug in AttnScope " << ATTNSCOPE_VERSION
              << "; please report it with the command line): " << what << "\n";
    return 3;
  }
}
