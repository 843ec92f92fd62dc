// `prune:heads=L0H3,L5H1` / `prune:ratio=0.3[,by=importance|entropy]`: pruned heads contribute nothing to
// their layer's output (Michel et al. 2019, "Are Sixteen Heads Really Better than One?"). LxHy is head y of layer x
// in every stack; models with several stacks also take one stack's head: decoder.L1H2, cross.L0H3, encoder.L2H0.
// by=importance (default): I_h = |∂L/∂ξ_h| for a head mask ξ (all ones) computed with autograd on the model's
// own objective — LM loss on the input for decoders, masked-LM loss on the (unmasked) input for MLM heads,
// log-probability of the predicted class for classifiers — normalised per layer by its L2 norm as in the
// paper; the `ratio` least important heads of the whole model are pruned.
// by=entropy: the heads whose attention rows have the highest mean entropy (the most diffuse) are pruned.
#include <ATen/TensorOperators.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/xlogy.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <tuple>

#include "attnscope/Engine.h"
#include "attnscope/Errors.h"
#include "attnscope/Variant.h"

namespace attnscope {
namespace {

/// ξ: multiplies every head's output by a mask entry that autograd differentiates.
class HeadMaskVariant : public AttentionVariant {
 public:
  HeadMaskVariant(std::vector<std::string> stacks, int layers, int heads, const c10::Device& device)
      : m_stacks(std::move(stacks)), m_layers(layers) {
    m_xi = at::ones({static_cast<int64_t>(m_stacks.size()) * layers, heads},
                    at::TensorOptions().dtype(at::kFloat).device(device))
               .requires_grad_(true);  // [stacks * layers, heads]
  }
  at::Tensor editOutput(const VariantCall& call, const at::Tensor& out, at::Tensor& probs) const override {
    const int64_t row = stackIndex(call.site.stack) * m_layers + call.site.layer;
    return out * m_xi[row].to(out.scalar_type()).view({-1, 1, 1});  // [heads, q, d]
  }
  const at::Tensor& xi() const { return m_xi; }
  int64_t stackIndex(const std::string& stack) const {
    auto it = std::find(m_stacks.begin(), m_stacks.end(), stack);
    return it == m_stacks.end() ? 0 : it - m_stacks.begin();
  }

 private:
  std::vector<std::string> m_stacks;
  int m_layers;
  at::Tensor m_xi;
};

class PruneVariant : public AttentionVariant {
 public:
  PruneVariant(VariantSpec spec) : m_specParsed(std::move(spec)) {}

  void prepare(LoadedModel& model, const PreparedInput& input) override {
    const ModelInfo& info = model.model->info();
    m_pruned.clear();
    m_scores = nullptr;
    if (m_specParsed.has("heads")) {
      static const std::regex re("(?:([a-z]+)\\.)?L(\\d+)H(\\d+)");
      for (const auto& item : m_specParsed.list("heads")) {
        std::smatch m;
        if (!std::regex_match(item, m, re))
          m_specParsed.fail("'" + item + "' is not a head name like L0H3 (or, one stack's: cross.L0H3)");
        const std::string stack = m[1];
        if (!stack.empty() && std::find(info.stacks.begin(), info.stacks.end(), stack) == info.stacks.end()) {
          std::string have;
          for (const std::string& s : info.stacks) have += (have.empty() ? "" : ", ") + s;
          m_specParsed.fail(item + ": this model has no stack '" + stack + "' (its stacks: " + have + ")");
        }
        if (m[2].length() > 6 || m[3].length() > 6) m_specParsed.fail(item + ": no such head");
        const int layer = std::stoi(m[2]), head = std::stoi(m[3]);
        if (layer >= info.layers)
          m_specParsed.fail(item + ": layer " + std::to_string(layer) + " does not exist (the model has " +
                            std::to_string(info.layers) + " layers, 0-" + std::to_string(info.layers - 1) + ")");
        if (head >= info.heads)
          m_specParsed.fail(item + ": head " + std::to_string(head) + " does not exist (the model has " +
                            std::to_string(info.heads) + " heads per layer)");
        m_pruned.insert({stack, layer, head});
      }
      return;
    }
    const double ratio = m_specParsed.number("ratio", 0.0);
    const std::string by = m_specParsed.textValue("by", "importance");
    const at::Tensor scores = by == "importance" ? importance(model, input) : entropy(model, input);  // [layers, heads]
    // Lowest importance first / highest entropy first; ties broken by (layer, head).
    std::vector<std::pair<double, std::pair<int, int>>> order;
    auto acc = scores.accessor<float, 2>();
    for (int l = 0; l < info.layers; ++l)
      for (int h = 0; h < info.heads; ++h) order.push_back({by == "importance" ? acc[l][h] : -acc[l][h], {l, h}});
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const auto count = static_cast<size_t>(std::lround(ratio * static_cast<double>(order.size())));
    for (size_t i = 0; i < count && i < order.size(); ++i)
      m_pruned.insert({std::string(), order[i].second.first, order[i].second.second});
    nlohmann::json s = nlohmann::json::array();
    for (int l = 0; l < info.layers; ++l) {
      std::vector<double> row;
      for (int h = 0; h < info.heads; ++h) row.push_back(acc[l][h]);
      s.push_back(row);
    }
    m_scores = {{"by", by}, {"scores", s}};
  }

  nlohmann::json details() const override {
    nlohmann::json j;
    std::vector<std::string> names;
    for (const auto& [stack, l, h] : m_pruned)
      names.push_back((stack.empty() ? "" : stack + ".") + "L" + std::to_string(l) + "H" + std::to_string(h));
    j["pruned_heads"] = names;
    if (!m_scores.is_null()) j["ranking"] = m_scores;
    return j;
  }

  at::Tensor editOutput(const VariantCall& call, const at::Tensor& out, at::Tensor& probs) const override {
    at::Tensor result = out;
    for (const auto& [stack, l, h] : m_pruned) {
      if (!appliesTo(stack, l, call.site) || h >= out.size(0)) continue;
      result[h].zero_();  // [q, d]
      if (probs.defined()) probs[h].zero_();
    }
    return result;
  }

  AttentionCost cost(const VariantCall& call, const at::Tensor& q, const at::Tensor& k) const override {
    int64_t kept = q.size(0);
    for (const auto& [stack, l, h] : m_pruned)
      if (appliesTo(stack, l, call.site) && h < q.size(0)) --kept;
    return denseAttentionCost(kept, q.size(1), k.size(1), q.size(2));
  }

 private:
  /// A pruned head (\p stack "" = every stack) of layer \p layer is at \p site.
  static bool appliesTo(const std::string& stack, int layer, const AttentionSite& site) {
    return layer == site.layer && (stack.empty() || stack == site.stack);
  }

  at::Tensor importance(LoadedModel& model, const PreparedInput& input) const {
    const ModelInfo& info = model.model->info();
    HeadMaskVariant mask(info.stacks, info.layers, info.heads, model.device);
    ForwardOptions options;
    options.variant = &mask;
    at::AutoGradMode grad(true);
    TensorMap out = model.model->forward(input.tensors, options);
    if (!out.count("logits") || info.head == "none")
      m_specParsed.fail("by=importance needs a model with an objective (language-model, masked-LM or classifier "
                        "head); this " + info.architecture + " has none — use by=entropy");
    const at::Tensor logits = out.at("logits").to(at::kFloat);  // [T, V] or [labels]
    at::Tensor loss;
    if (info.head == "classifier") {
      const at::Tensor logp = at::log_softmax(logits, -1);  // [labels]
      loss = -logp[logp.argmax().item<int64_t>()];
    } else {
      const at::Tensor ids = input.tensors.at("input_ids")[0].to(logits.device());  // [T]
      const int64_t T = ids.size(0);
      const bool shift = info.causal;
      if (shift && T < 2) m_specParsed.fail("by=importance on a language model needs at least 2 input tokens");
      const at::Tensor lp = at::log_softmax(shift ? logits.narrow(0, 0, T - 1) : logits, -1);  // [n, V]
      const at::Tensor target = shift ? ids.narrow(0, 1, T - 1) : ids;                         // [n]
      loss = -lp.gather(1, target.unsqueeze(1)).mean();
    }
    loss.backward();
    at::Tensor g = mask.xi().grad().abs().to(at::kCPU);  // [stacks * layers, heads]
    g = g.view({-1, info.layers, info.heads}).sum(0);    // [layers, heads]
    return (g / g.norm(2, {1}, true).clamp_min(1e-20)).contiguous();  // [layers, heads], per-layer L2 normalised
  }

  at::Tensor entropy(LoadedModel& model, const PreparedInput& input) const {
    const ModelInfo& info = model.model->info();
    RunResult r = runModel(model, input);
    at::Tensor e = at::zeros({info.layers, info.heads}, at::TensorOptions().dtype(at::kFloat));  // [layers, heads]
    for (const auto& [key, probs] : r.capture->records()) {
      const at::Tensor rowEntropy = -at::xlogy(probs, probs).sum(-1);  // [heads, q]
      e[key.second] += rowEntropy.mean(1);
    }
    return e;
  }

  VariantSpec m_specParsed;
  std::set<std::tuple<std::string, int, int>> m_pruned;  ///< (stack, "" = every stack; layer; head)
  nlohmann::json m_scores;
};

const RegisterVariant reg({"prune",
                           "remove heads: explicit (heads=L0H3,L5H1; one stack's: cross.L0H3) or the least important share "
                           "(ratio=0.3[,by=importance|entropy])",
                           {{"heads", ParamType::List}, {"ratio", ParamType::Double}, {"by", ParamType::Text}},
                           [](const VariantSpec& s) {
                             if (s.has("heads") == s.has("ratio"))
                               s.fail("give either heads=L0H3,... or ratio=R (one of the two)");
                             if (s.has("ratio")) {
                               const double r = s.number("ratio", 0);
                               if (!(r >= 0.0 && r <= 1.0)) s.fail("ratio must be between 0 and 1");
                             }
                             const std::string by = s.textValue("by", "importance");
                             if (by != "importance" && by != "entropy")
                               s.fail("by must be importance or entropy, not '" + by + "'");
                             if (s.has("by") && s.has("heads")) s.fail("by= only applies with ratio=");
                             return std::make_unique<PruneVariant>(s);
                           }});

}  // namespace
}  // namespace attnscope
