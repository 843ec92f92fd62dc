// attnscope-cli convert-llama2c: turn a llama2.c checkpoint + tokenizer.bin into a Hugging Face model folder.
#include "CliCommand.h"

#include <iostream>

#include "attnscope/Errors.h"
#include "attnscope/Llama2cConverter.h"

namespace attnscope::cli {
namespace {

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

const CliCommand kConvertLlama2cCommand{"convert-llama2c", "turn a llama2.c checkpoint + tokenizer.bin into a Hugging Face model folder", kConvertHelp, {"checkpoint", "tokenizer", "out"}, {}, cmdConvertLlama2c, nullptr};

}  // namespace attnscope::cli
