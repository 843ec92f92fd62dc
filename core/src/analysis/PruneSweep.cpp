#include "attnscope/PruneSweep.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "attnscope/Compare.h"
#include "attnscope/Errors.h"
#include "attnscope/Variant.h"

namespace attnscope {

std::vector<std::string> headPruneOrder(LoadedModel& model, const PreparedInput& input, const std::string& order,
                                        uint64_t seed) {
  const ModelInfo& info = model.model->info();
  std::vector<std::pair<int, int>> heads;
  for (int l = 0; l < info.layers; ++l)
    for (int h = 0; h < info.heads; ++h) heads.push_back({l, h});
  if (order == "random") {
    std::mt19937_64 rng(seed);
    std::shuffle(heads.begin(), heads.end(), rng);
  } else if (order == "importance" || order == "entropy") {
    // The prune variant ranks heads exactly as `prune:ratio=R,by=…` does; its details carry the scores.
    auto ranker = makeVariant("prune:ratio=0,by=" + order);
    ranker->prepare(model, input);
    const nlohmann::json scores = ranker->details().at("ranking").at("scores");  // [layers][heads]
    auto score = [&](const std::pair<int, int>& lh) {
      const double s = scores.at(lh.first).at(lh.second).get<double>();
      return order == "importance" ? s : -s;  // least important first / most diffuse first
    };
    std::stable_sort(heads.begin(), heads.end(), [&](const auto& a, const auto& b) { return score(a) < score(b); });
  } else {
    throw InputError("unknown pruning order '" + order + "' (expected importance, entropy or random)");
  }
  std::vector<std::string> names;
  for (const auto& [l, h] : heads) names.push_back("L" + std::to_string(l) + "H" + std::to_string(h));
  return names;
}

std::vector<double> parseRatios(const std::string& list) {
  std::vector<double> ratios;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double r = NAN;
    try {
      r = std::stod(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !(r >= 0.0 && r <= 1.0))
      throw InputError("pruning ratio '" + item + "' is not a number between 0 and 1");
    ratios.push_back(r);
  }
  if (ratios.empty()) throw InputError("no pruning ratios given (e.g. 0,0.1,0.2,0.5)");
  return ratios;
}

PruneSweepResult pruneSweep(LoadedModel& model, const PreparedInput& input, const PruneSweepOptions& options,
                            RunControl* control) {
  if (options.ratios.empty()) throw InputError("no pruning ratios given (e.g. 0,0.1,0.2,0.5)");
  for (double r : options.ratios)
    if (!(r >= 0.0 && r <= 1.0)) throw InputError("pruning ratio " + std::to_string(r) + " is not between 0 and 1");
  PruneSweepResult result;
  result.order = options.order;
  result.seed = options.seed;
  result.ranking = headPruneOrder(model, input, options.order, options.seed);
  result.totalHeads = static_cast<int>(result.ranking.size());
  // One spec per ratio: the first round(ratio × total) heads of the ranking (a prefix, so lower ratios prune a
  // subset of higher ones).
  std::vector<std::string> specs;
  std::vector<size_t> counts;
  for (double r : options.ratios) {
    const auto n = static_cast<size_t>(std::lround(r * static_cast<double>(result.totalHeads)));
    counts.push_back(n);
    std::string spec = n == 0 ? "full" : "prune:heads=";
    for (size_t i = 0; i < n; ++i) spec += (i ? "," : "") + result.ranking[i];
    specs.push_back(spec);
  }
  CompareOptions co;
  co.repeats = std::max(1, options.repeats);
  const Comparison c = compareVariants(model, input, specs, co, control);
  const auto& variants = c.report.at("variants");  // [0] is the full baseline; a "full" spec is that one
  for (size_t i = 0; i < specs.size(); ++i) {
    const nlohmann::json* found = &variants.at(0);
    for (const auto& v : variants)
      if (v.at("spec").get<std::string>() == specs[i]) {
        found = &v;
        break;
      }
    const auto& v = *found;
    const auto& mm = v.at("model_metrics");
    auto number = [&](const char* key) {
      return mm.contains(key) && mm.at(key).is_number() ? mm.at(key).get<double>() : NAN;
    };
    PruneSweepPoint p;
    p.ratio = options.ratios[i];
    p.pruned.assign(result.ranking.begin(), result.ranking.begin() + static_cast<std::ptrdiff_t>(counts[i]));
    p.logitsKl = number("logits_kl");
    p.top1Agreement = number("top1_agreement");
    p.jsMean = number("js_mean");
    p.ms = v.at("cost").at("seconds_median").get<double>() * 1000.0;
    result.points.push_back(std::move(p));
  }
  return result;
}

nlohmann::json PruneSweepResult::toJson(const std::string& model) const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json pts = nlohmann::json::array();
  for (const auto& p : points)
    pts.push_back({{"ratio", p.ratio},
                   {"pruned", p.pruned},
                   {"logits_kl", num(p.logitsKl)},
                   {"top1_agreement", num(p.top1Agreement)},
                   {"js_mean", num(p.jsMean)},
                   {"ms", p.ms}});
  return {{"model", model}, {"order", order},     {"seed", seed},
          {"total_heads", totalHeads}, {"ranking", ranking}, {"points", pts}};
}

}  // namespace attnscope
