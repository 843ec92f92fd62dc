#include "attnscope/DirectLogitAttribution.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/stack.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "attnscope/Attention.h"
#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/LogitLens.h"
#include "attnscope/Tokenizer.h"

namespace attnscope {

namespace {
/// Keeps, for one position of the lens stack, what every part writes to its residual stream and each layer's
/// per-head attention outputs (the rows of that position only) — the decoder's cross-attention heads too.
struct WriteRecorder : AttentionHook {
  WriteRecorder(std::string stack, int64_t position) : stack(std::move(stack)), position(position) {}
  std::string stack;
  int64_t position;
  at::Tensor embed;                                     ///< [H]
  std::map<int, at::Tensor> attn, cross, mlp;           ///< [H] by layer
  std::map<int, at::Tensor> headOutputs, crossOutputs;  ///< [heads, 1, d] by layer
  at::Tensor last;                                      ///< [H] the residual the last layer hands on
  bool wantsProbabilities(const AttentionSite&) const override { return false; }
  void onProbabilities(const AttentionSite&, at::Tensor&, int64_t) override {}
  void onHeadOutputs(const AttentionSite& site, const at::Tensor& out, int64_t queryOffset) override {
    if (site.stack != stack && site.stack != "cross") return;
    (site.stack == stack ? headOutputs : crossOutputs)[site.layer] =
        out.narrow(1, position - queryOffset, 1).clone();  // [heads, 1, d]
  }
  void onResidualWrite(const AttentionSite& site, ResidualPart part, const at::Tensor& write) override {
    if (site.stack != stack) return;
    const at::Tensor row = write[position].clone();  // [H]
    switch (part) {
      case ResidualPart::Embeddings:
        embed = row;
        break;
      case ResidualPart::Attention:
        attn[site.layer] = row;
        break;
      case ResidualPart::CrossAttention:
        cross[site.layer] = row;
        break;
      case ResidualPart::Mlp:
        mlp[site.layer] = row;
        break;
    }
  }
  void onLayerOutput(const AttentionSite& site, const at::Tensor& hidden) override {
    if (site.stack == stack) last = hidden[position].clone();  // [H]
  }
};

/// The rows of one attention block: its heads' writes, then the rest of the block's write (the output bias).
void addBlockRows(std::vector<at::Tensor>& rows, const at::Tensor& perHead, const at::Tensor& write) {
  rows.push_back(perHead.to(write.scalar_type()));        // [heads, H]
  rows.push_back((write - perHead.sum(0)).unsqueeze(0));  // [1, H]
}
}  // namespace

double DirectLogitAttribution::sum() const {
  double s = embed + bias;
  for (const auto* grid : {&heads, &crossHeads})
    for (const auto& layer : *grid)
      for (double h : layer) s += h;
  for (double v : mlp) s += v;
  return s;
}

DirectLogitAttribution directLogitAttribution(LoadedModel& m, const PreparedInput& input, int64_t position,
                                              const std::string& target, const AttentionVariant* variant) {
  const Model& model = *m.model;
  if (!model.hasDirectAttribution())
    throw InputError(
        "direct logit attribution needs a pre-norm model with a token output head, whose residual "
        "stream is a sum of what each layer writes; this " +
        model.info().modelType + " model (" + model.info().head + " head) is not one");
  const std::string stack = model.lensStack();
  const std::vector<std::string> labels = stackLabels(input, stack).first;
  const int64_t T = static_cast<int64_t>(labels.size());
  if (position < 0) position += T;
  if (position < 0 || position >= T)
    throw InputError("position " + std::to_string(position) + " is outside the " +
                     (stack == "decoder" ? "decoder's input" : "input") + " (0.." + std::to_string(T - 1) +
                     ")");
  const int64_t fixed = target.empty() ? -1 : lensTargetId(m, target);

  WriteRecorder rec(stack, position);
  c10::InferenceMode guard;
  ForwardOptions options;
  options.hook = &rec;
  options.variant = variant;
  const TensorMap out = m.model->forward(input.tensors, options);
  const at::Tensor logits = out.at("logits")[position].to(at::kCPU, at::kDouble);  // [V]
  const size_t layers = rec.headOutputs.size();
  const bool crossed = !rec.crossOutputs.empty();
  if (!rec.embed.defined() || !rec.last.defined() || layers == 0 || rec.attn.size() != layers ||
      rec.mlp.size() != layers ||
      (crossed && (rec.cross.size() != layers || rec.crossOutputs.size() != layers)))
    throw AttnScopeError("internal: the " + model.info().modelType +
                         " model did not report every residual write");

  DirectLogitAttribution dla;
  dla.model = model.info().modelType;
  dla.stack = stack;
  dla.position = position;
  dla.positionLabel = labels[static_cast<size_t>(position)];
  const int64_t predicted = logits.argmax().item<int64_t>();
  dla.targetId = fixed >= 0 ? fixed : predicted;
  dla.predicted = dla.targetId == predicted;
  dla.targetToken = m.tokenizer ? m.tokenizer->displayLabel(dla.targetId) : std::to_string(dla.targetId);
  dla.logit = logits[dla.targetId].item<double>();
  dla.probability = at::softmax(logits, 0)[dla.targetId].item<double>();

  // Rows: the embeddings, then per layer its heads and the rest of its attention write (the output bias), the
  // same for its cross-attention (decoders with an encoder), its MLP.
  std::vector<at::Tensor> rows = {rec.embed.unsqueeze(0)};  // [1, H]
  at::Tensor total = rec.embed.to(at::kDouble);             // [H]
  for (int l = 0; l < static_cast<int>(layers); ++l) {
    addBlockRows(rows, model.lensHeadWrites({stack, l}, rec.headOutputs.at(l)).squeeze(1), rec.attn.at(l));
    total = total + rec.attn.at(l).to(at::kDouble);  // [H]
    if (crossed) {
      addBlockRows(rows, model.lensHeadWrites({"cross", l}, rec.crossOutputs.at(l)).squeeze(1),
                   rec.cross.at(l));
      total = total + rec.cross.at(l).to(at::kDouble);  // [H]
    }
    rows.push_back(rec.mlp.at(l).unsqueeze(0));     // [1, H]
    total = total + rec.mlp.at(l).to(at::kDouble);  // [H]
  }
  // The parts must rebuild the residual stream, or the split would not add up: a family reporting a wrong
  // write.
  const double gap = (total - rec.last.to(at::kDouble)).abs().max().item<double>();
  const double size = rec.last.to(at::kDouble).abs().max().item<double>();
  if (!(gap <= 1e-3 * (1.0 + size)))
    throw AttnScopeError("internal: the residual writes of the " + model.info().modelType +
                         " model miss the residual stream by " + std::to_string(gap));
  double constant = 0;
  const at::Tensor values =
      model.frozenHeadLogits(at::cat(rows, 0), rec.last, dla.targetId, &constant).contiguous();  // [N]
  const double* v = values.data_ptr<double>();
  int64_t at = 0;
  dla.embed = v[at++];
  dla.bias = constant;
  const auto block = [&](std::vector<std::vector<double>>& grid, int64_t heads) {
    grid.emplace_back(v + at, v + at + heads);
    at += heads;
    dla.bias += v[at++];
  };
  for (int l = 0; l < static_cast<int>(layers); ++l) {
    block(dla.heads, rec.headOutputs.at(l).size(0));
    if (crossed) block(dla.crossHeads, rec.crossOutputs.at(l).size(0));
    dla.mlp.push_back(v[at++]);
  }
  return dla;
}

nlohmann::json toJson(const DirectLogitAttribution& dla) {
  nlohmann::json parts = nlohmann::json::object();
  parts["embed"] = dla.embed;
  for (size_t l = 0; l < dla.heads.size(); ++l) {
    for (size_t h = 0; h < dla.heads[l].size(); ++h)
      parts["L" + std::to_string(l) + "H" + std::to_string(h)] = dla.heads[l][h];
    if (l < dla.crossHeads.size())
      for (size_t h = 0; h < dla.crossHeads[l].size(); ++h)
        parts["L" + std::to_string(l) + ".cross.H" + std::to_string(h)] = dla.crossHeads[l][h];
    parts["L" + std::to_string(l) + ".mlp"] = dla.mlp[l];
  }
  parts["bias"] = dla.bias;
  return {{"method", "dla"},
          {"model", dla.model},
          {"position", dla.position},
          {"token", dla.positionLabel},
          {"target_id", dla.targetId},
          {"target", dla.targetToken},
          {"predicted", dla.predicted},
          {"logit", dla.logit},
          {"p", dla.probability},
          {"layers", dla.heads.size()},
          {"heads", dla.heads.empty() ? 0 : dla.heads[0].size()},
          {"stack", dla.stack},
          {"cross_heads", dla.crossHeads.empty() ? 0 : dla.crossHeads[0].size()},
          {"parts", parts},
          {"sum", dla.sum()}};
}

}  // namespace attnscope
