// `full`: the baseline. The chokepoint treats it exactly as "no variant", so it is bit-identical to a plain run.
#include <ATen/TensorOperators.h>

#include "attnscope/Variant.h"

namespace attnscope {
namespace {

class FullVariant : public AttentionVariant {
 public:
  bool isIdentity() const override { return true; }
};

const RegisterVariant reg({"full", "the model's own attention (baseline)", {},
                           [](const VariantSpec&) { return std::make_unique<FullVariant>(); }});

}  // namespace
}  // namespace attnscope
