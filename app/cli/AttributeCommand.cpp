// attnscope-cli attribute: what each head and MLP contributes to a target logit (dla), attention flow, rollout.
#include "CliCommand.h"

#include <ATen/ops/tensor.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "CliFigures.h"
#include "attnscope/AtomicFile.h"
#include "attnscope/DirectLogitAttribution.h"
#include "attnscope/EngineSession.h"
#include "attnscope/Media.h"
#include "attnscope/Errors.h"
#include "attnscope/MemoryBudget.h"
#include "attnscope/OverlayRenderer.h"
#include "attnscope/TokenAttribution.h"
#include "attnscope/WordGroups.h"

namespace attnscope::cli {
namespace {

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
  [[maybe_unused]] const int dpi = dpiArg(a);
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

}  // namespace

const CliCommand kAttributeCommand{"attribute", "what each head and MLP contributes to a target logit (dla), attention flow, rollout", kAttributeHelp, {"model", "text", "text-pair", "decoder-text", "inputs", "image", "audio", "offset", "method", "position", "target", "variant", "device", "dtype", "out", "figure", "dpi", "overlay"}, {"words"}, cmdAttribute, nullptr};

}  // namespace attnscope::cli
