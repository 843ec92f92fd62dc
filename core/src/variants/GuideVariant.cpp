// `guide:tokens=3,7,bias=2.0`: external guidance — a bias added to the logits of chosen key positions
// (e.g. entity tokens), so every query attends more to them.
#include <ATen/TensorOperators.h>
#include <ATen/ops/tensor.h>

#include "attnscope/Errors.h"
#include "attnscope/AttentionCapture.h"
#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class GuideVariant : public AttentionVariant {
 public:
  GuideVariant(std::string spec, std::vector<int64_t> tokens, double bias)
      : m_text(std::move(spec)), m_tokens(std::move(tokens)), m_bias(bias) {}

  void editScores(const VariantCall& call, at::Tensor& scores, const at::Tensor& q,
                  const at::Tensor& k) const override {
    for (int64_t t : m_tokens) {
      if (t >= scores.size(2))
        throw InputError("variant '" + m_text + "': token position " + std::to_string(t) + " is past the input (" +
                         std::to_string(scores.size(2)) + " positions)");
      scores.select(2, t).add_(m_bias);  // [heads, q]
    }
  }

 private:
  std::string m_text;
  std::vector<int64_t> m_tokens;
  double m_bias;
};

const RegisterVariant reg({"guide", "add a bias to the logits of chosen key positions (tokens=3,7,bias=2.0)",
                           {{"tokens", ParamType::List}, {"bias", ParamType::Double}},
                           [](const VariantSpec& s) {
                             if (!s.has("tokens")) s.fail("missing tokens=I,J,... (key positions to favour)");
                             std::vector<int64_t> tokens;
                             for (const auto& t : s.list("tokens")) {
                               int64_t v = -1;
                               if (!parseNonNegativeInt(t, &v))
                                 s.fail("token position '" + t + "' is not a non-negative integer");
                               tokens.push_back(v);
                             }
                             return std::make_unique<GuideVariant>(s.text, tokens, s.number("bias", 2.0));
                           }});

}  // namespace
}  // namespace attnscope
