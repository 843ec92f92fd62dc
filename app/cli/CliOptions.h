#pragma once
// The options of attnscope-cli commands: parsing, and the inputs and selections every command shares.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "attnscope/Engine.h"
#include "attnscope/Errors.h"

namespace attnscope::cli {

/// The parsed options of one command.
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

/// The options of argv[start..]: --key VALUE or --key=VALUE for \p valueOptions, --flag for \p flagOptions;
/// InputError for anything else.
Args parseArgs(int argc, char** argv, int start, const std::vector<std::string>& valueOptions,
               const std::vector<std::string>& flagOptions);

/// Whether argv[2..] asks for --help (or -h).
bool wantsHelp(int argc, char** argv);

/// --k as a non-negative integer (\p def when absent); InputError naming the option otherwise.
int nonNegativeOption(const Args& a, const std::string& k, int def);

/// --layers and --heads as a capture selection.
CaptureSelection selectionFrom(const Args& a);

/// An optional whole number that may be negative (a position counted from the end); \p fallback when absent.
int64_t signedArg(const Args& a, const std::string& key, int64_t fallback);

/// The input of a command: --text (with --text-pair or a seq2seq --target), --image, --audio [--offset S] or
/// --inputs FILE; exactly one.
PreparedInput inputFrom(const LoadedModel& m, const Args& a);

/// The input of a command whose --target names a token of the output (lens, attribute, deletion), not a seq2seq
/// target text; encoder–decoder text models take the decoder's text from --decoder-text instead.
PreparedInput outputTokenInput(const LoadedModel& m, const Args& a);

}  // namespace attnscope::cli
