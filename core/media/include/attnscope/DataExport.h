#pragma once
/// \file DataExport.h
/// Data files for analysis outside AttnScope: one head as NumPy `.npy` or CSV, and a comparison report as CSV.
/// Plain C++ types only (the GUI includes this header); every function returns the file's bytes so the caller
/// writes them atomically.

#include <string>
#include <vector>

namespace attnscope {

/// A [rows × cols] row-major float32 matrix as a NumPy .npy (format 1.0, '<f4', C order) — `numpy.load` reads it.
std::string encodeNpy(const std::vector<float>& values, int rows, int cols);

/// The same matrix as CSV: a header row ("query \ key", then the column labels), then one row per query (its label,
/// then the values). Labels are quoted as RFC 4180 asks (doubled quotes; spaces kept: " the" stays " the").
std::string encodeCsv(const std::vector<float>& values, int rows, int cols, const std::vector<std::string>& rowLabels,
                      const std::vector<std::string>& colLabels);

/// A comparison report (report.json of `attnscope-cli compare`) as CSV: one row per (variant, stack, layer, head)
/// with the head metrics, the layer's hidden-state drift and the variant's cost and model metrics.
/// Throws InputError when \p reportJson is not such a report.
std::string comparisonCsv(const std::string& reportJson);

}  // namespace attnscope
