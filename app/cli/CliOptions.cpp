#include "CliOptions.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "attnscope/Errors.h"
#include "attnscope/Media.h"

namespace attnscope::cli {

Args parseArgs(int argc, char** argv, int start, const std::vector<std::string>& valueOptions,
               const std::vector<std::string>& flagOptions) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) throw InputError("unexpected argument '" + s + "' (see --help)");
    s = s.substr(2);
    std::string value;
    bool inlineValue = false;
    const size_t eq = s.find('=');
    if (eq != std::string::npos) {
      value = s.substr(eq + 1);
      s = s.substr(0, eq);
      inlineValue = true;
    }
    if (std::find(flagOptions.begin(), flagOptions.end(), s) != flagOptions.end()) {
      a.flags.push_back(s);
      continue;
    }
    if (std::find(valueOptions.begin(), valueOptions.end(), s) == valueOptions.end())
      throw InputError("unknown option --" + s + " (see --help)");
    if (!inlineValue) {
      if (i + 1 >= argc) throw InputError("option --" + s + " needs a value");
      value = argv[++i];
    }
    a.values[s] = value;
    a.all[s].push_back(value);
  }
  return a;
}

bool wantsHelp(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

/// --k as a non-negative integer (\p def when absent); InputError naming the option otherwise.
int nonNegativeOption(const Args& a, const std::string& k, int def) {
  if (!a.has(k)) return def;
  const std::string v = a.get(k);
  try {
    size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used != v.size() || x < 0) throw std::invalid_argument(v);
    return x;
  } catch (...) {
    throw InputError("--" + k + " must be a non-negative integer (got '" + v + "')");
  }
}

CaptureSelection selectionFrom(const Args& a) {
  CaptureSelection s;
  s.layers = parseIndexList(a.get("layers"), "--layers");
  s.heads = parseIndexList(a.get("heads"), "--heads");
  return s;
}

/// An optional whole number that may be negative (a position counted from the end); \p fallback when absent.
int64_t signedArg(const Args& a, const std::string& key, int64_t fallback) {
  if (!a.has(key)) return fallback;
  const std::string v = a.get(key);
  size_t used = 0;
  int64_t n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != v.size()) throw InputError("--" + key + " must be an integer (got '" + v + "')");
  return n;
}

PreparedInput inputFrom(const LoadedModel& m, const Args& a) {
  int given = 0;
  for (const char* k : {"text", "inputs", "image", "audio"}) given += a.has(k) ? 1 : 0;
  if (given > 1) throw InputError("give one input: --text, --image, --audio or --inputs");
  if (a.has("offset") && !a.has("audio")) throw InputError("--offset only applies with --audio");
  if (a.has("inputs")) return prepareInputsFile(m, a.get("inputs"));
  if (a.has("image")) return prepareImage(m, a.get("image"));
  if (a.has("audio")) {
    double offset = 0;
    if (a.has("offset")) {
      const std::string o = a.get("offset");
      try {
        size_t used = 0;
        offset = std::stod(o, &used);
        if (used != o.size()) throw std::invalid_argument(o);
      } catch (...) {
        throw InputError("--offset must be a number of seconds (got '" + o + "')");
      }
    }
    return prepareAudio(m, a.get("audio"), offset);
  }
  if (!a.has("text"))
    throw InputError("missing input: give --text STR, --image PATH, --audio PATH or --inputs FILE");
  std::optional<std::string> pair;
  if (a.has("text-pair")) pair = a.get("text-pair");
  if (a.has("target")) {
    if (pair) throw InputError("give --text-pair or --target, not both");
    return prepareSeq2Seq(m, a.get("text"), a.get("target"));
  }
  return prepareText(m, a.get("text"), pair);
}

/// The input of a command whose --target names a token of the output (lens, attribute, deletion), not a seq2seq
/// target text; encoder–decoder text models take the decoder's text from --decoder-text instead.
PreparedInput outputTokenInput(const LoadedModel& m, const Args& a) {
  Args input = a;
  input.values.erase("target");
  if (a.has("decoder-text")) {
    if (!m.model->info().encoderDecoder)
      throw InputError("--decoder-text is for encoder-decoder models (T5, BART, Whisper); this one has one stack");
    if (!a.has("text"))
      throw InputError("--decoder-text goes with --text (the encoder's text); with --audio the decoder starts from "
                       "its start tokens (--inputs gives exact decoder ids)");
    input.values["target"] = a.get("decoder-text");
  }
  return inputFrom(m, input);
}

}  // namespace attnscope::cli
