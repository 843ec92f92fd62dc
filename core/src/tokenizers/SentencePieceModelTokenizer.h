#pragma once
// Legacy SentencePiece tokenizer.model files (Llama-2, Mistral, T5 checkpoints without tokenizer.json), run by
// Debian's libsentencepiece. Internal to core.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "attnscope/Tokenizer.h"

namespace attnscope {

/// Loads \p path; tokenizer_config.json \p config decides add_bos_token / add_eos_token (default: BOS for Llama-style
/// models, EOS for T5). Throws TokenizerError naming the file when libsentencepiece cannot read it.
std::unique_ptr<Tokenizer> loadSentencePieceModel(const std::string& path, const nlohmann::json& config);

}  // namespace attnscope
