#pragma once
/// \file Llama2cConverter.h
/// Converts a llama2.c release (Karpathy's `run.c` checkpoint + `tokenizer.bin`, e.g. karpathy/tinyllamas
/// stories260K.bin + tok512.bin) into the Hugging Face `LlamaForCausalLM` folder layout that the engine loads:
/// config.json, generation_config.json, model.safetensors (float32), tokenizer.json (BPE with byte fallback),
/// tokenizer_config.json and special_tokens_map.json.
///
/// Checkpoint format read (llama2.c "legacy" / version 0, what tinyllamas ships): seven little-endian int32
/// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means the
/// classifier is stored separately), then float32 arrays in this order: token embedding [vocab, dim],
/// attention RMSNorm [layers, dim], wq [layers, dim, dim], wk / wv [layers, kv_dim, dim], wo [layers, dim, dim],
/// FFN RMSNorm [layers, dim], w1 [layers, hidden, dim], w2 [layers, dim, hidden], w3 [layers, hidden, dim],
/// final RMSNorm [dim], the RoPE cos/sin tables [seq_len, head_size/2] x 2 (ignored), then wcls [vocab, dim]
/// when not shared. The q/k rows are permuted into Hugging Face's rotate-half RoPE layout, as the official
/// conversion does.
///
/// Tokenizer format read: int32 max_token_length, then per token float32 score, int32 byte length, bytes
/// (spaces stand for the sentencepiece `▁`; BOS/EOS are written as "\n<s>\n" / "\n</s>\n"). The BPE merges
/// are derived from the scores the way Hugging Face derives them from a sentencepiece model: every piece, in
/// order of decreasing score, contributes each split into two pieces of the vocabulary.

#include <string>
#include <vector>

namespace attnscope {

/// What convertLlama2c() read and wrote.
struct Llama2cConversion {
  int dim = 0, hiddenDim = 0, layers = 0, heads = 0, kvHeads = 0, vocab = 0, seqLen = 0;
  bool sharedClassifier = true;
  int merges = 0;                  ///< BPE merges derived from the token scores
  std::vector<std::string> files;  ///< file names written into the output folder
};

/// Converts \p checkpointPath + \p tokenizerPath into a new Hugging Face folder \p outDir.
/// The folder must not exist or be empty (nothing is overwritten); the files are written into a staging
/// folder beside it and moved in place only once all of them are complete.
/// Throws ModelLoadError / TokenizerError naming the file and what was expected (truncated file, unsupported
/// llama2.c version, inconsistent header, token count different from the checkpoint's vocabulary, ...),
/// InputError when \p outDir is not empty or cannot be written.
Llama2cConversion convertLlama2c(const std::string& checkpointPath, const std::string& tokenizerPath,
                                 const std::string& outDir);

}  // namespace attnscope
