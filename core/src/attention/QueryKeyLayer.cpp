#include "attnscope/QueryKeyLayer.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/flip.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attention/HeadScores.h"
#include "attention/HeadTiles.h"
#include "attnscope/Errors.h"

namespace attnscope {

int QueryKeyLayer::headPosition(int head) const {
  for (size_t i = 0; i < heads.size(); ++i)
    if (heads[i] == head) return static_cast<int>(i);
  return -1;
}

namespace {

/// The probabilities of stored head \p headPos for rows [row0, row0 + nRows) on the keys of [col0, col0 + nCols)
/// those rows can see at all, [nRows, w] from key *loOut on (undefined when they see none): the forward's own
/// arithmetic (HeadScores.h). With \p rowBuffer ([nRows, nCols]) they are computed in place in its columns
/// [*loOut − col0, … + w) and that view is returned; its other columns are left as they were. With \p logarithms,
/// the cells are s − lse (the same values before the exponential).
at::Tensor visibleProbabilities(const QueryKeyLayer& layer, int headPos, int64_t row0, int64_t nRows, int64_t col0,
                                int64_t nCols, const at::Tensor& rowBuffer, int64_t* loOut, bool logarithms = false) {
  const int64_t tq = layer.rows(), tk = layer.cols();
  if (headPos < 0 || headPos >= static_cast<int>(layer.heads.size()) || row0 < 0 || nRows < 0 ||
      row0 + nRows > tq || col0 < 0 || nCols < 0 || col0 + nCols > tk)
    throw InputError("attention tile out of range: rows " + std::to_string(row0) + "+" + std::to_string(nRows) +
                     " of " + std::to_string(tq) + ", keys " + std::to_string(col0) + "+" + std::to_string(nCols) +
                     " of " + std::to_string(tk));
  *loOut = col0;
  if (nRows == 0 || nCols == 0) return at::Tensor();
  detail::ScoreMasks masks;
  masks.causal = layer.causal;
  masks.window = layer.slidingWindow;
  masks.past = layer.past;
  masks.chunk = layer.chunkSize;
  masks.softcap = layer.softcap;
  masks.keyPadding = layer.keyPaddingMask;
  const auto [lo, hi] = detail::visibleKeys(masks, row0, nRows, col0, col0 + nCols);
  if (hi <= lo) return at::Tensor();
  *loOut = lo;
  const int64_t w = hi - lo;
  const int group = layer.totalHeads / static_cast<int>(layer.keys.size(0));
  const int64_t kvHead = layer.heads[headPos] / std::max(group, 1);
  at::Tensor bias;
  if (layer.biasDiagonals.defined()) {
    const auto opts = at::TensorOptions().dtype(at::kLong);
    const at::Tensor idx = (at::arange(lo, hi, opts).unsqueeze(0) - at::arange(row0, row0 + nRows, opts).unsqueeze(1))
                               .add_(tq - 1);             // [rows, w]
    bias = layer.biasDiagonals[headPos].take(idx);  // [rows, w]
  }
  const at::Tensor out = rowBuffer.defined() ? rowBuffer.narrow(1, lo - col0, w) : at::Tensor();  // [rows, w]
  at::Tensor s = detail::headScores(layer.queries[headPos].narrow(0, row0, nRows), layer.keys[kvHead].narrow(0, lo, w),
                                    layer.scale, bias, masks, row0, lo, out);  // [rows, w]
  if (logarithms)
    detail::logProbabilitiesInPlace(s, layer.lse[headPos].narrow(0, row0, nRows));
  else
    detail::probabilitiesInPlace(s, layer.lse[headPos].narrow(0, row0, nRows));
  return s;
}

/// tileInto()'s cells, or their logarithms (−inf where a key is not visible).
void fillTile(const QueryKeyLayer& layer, int headPos, int64_t row0, int64_t col0, const at::Tensor& rowBuffer,
              bool logarithms) {
  const int64_t n = rowBuffer.size(0), cols = rowBuffer.size(1);
  const double none = logarithms ? -std::numeric_limits<double>::infinity() : 0.0;
  int64_t lo = col0;
  const at::Tensor v = visibleProbabilities(layer, headPos, row0, n, col0, cols, rowBuffer, &lo, logarithms);  // [n, w]
  if (!v.defined()) {
    rowBuffer.fill_(none);
    return;
  }
  const int64_t before = lo - col0, after = cols - before - v.size(1);
  if (before > 0) rowBuffer.narrow(1, 0, before).fill_(none);                 // [n, before]
  if (after > 0) rowBuffer.narrow(1, before + v.size(1), after).fill_(none);  // [n, after]
}

}  // namespace

at::Tensor QueryKeyLayer::visibleTile(int headPos, int64_t row0, int64_t nRows, int64_t col0, int64_t nCols,
                                      int64_t* loOut) const {
  return visibleProbabilities(*this, headPos, row0, nRows, col0, nCols, at::Tensor(), loOut);
}

at::Tensor QueryKeyLayer::tile(int headPos, int64_t row0, int64_t nRows, int64_t col0, int64_t nCols) const {
  at::Tensor out = at::empty({nRows, nCols}, queries.options());  // [rows, cols]
  detail::tileInto(*this, headPos, row0, col0, out);
  return out;
}

namespace detail {

void tileInto(const QueryKeyLayer& layer, int headPos, int64_t row0, int64_t col0, const at::Tensor& rowBuffer) {
  fillTile(layer, headPos, row0, col0, rowBuffer, false);
}

}  // namespace detail

at::Tensor QueryKeyLayer::probabilities() const {
  // In the forward's row blocks, so the result is the forward's own probabilities.
  const int64_t block = detail::chunkRows(cols());
  std::vector<at::Tensor> all;
  for (size_t h = 0; h < heads.size(); ++h) {
    std::vector<at::Tensor> rowsOfHead;
    for (int64_t r = 0; r < rows(); r += block)
      rowsOfHead.push_back(tile(static_cast<int>(h), r, std::min(block, rows() - r), 0, cols()));  // [n, k]
    all.push_back(rowsOfHead.size() == 1 ? rowsOfHead[0] : at::cat(rowsOfHead));                // [q, k]
  }
  return at::stack(all);  // [heads, q, k]
}

at::Tensor QueryKeyLayer::blockMaxima(int headPos, int64_t row0, int64_t row1, int64_t col0, int64_t col1,
                                      int64_t outRows, int64_t outCols) const {
  const int64_t nr = row1 - row0, nc = col1 - col0;
  if (nr <= 0 || nc <= 0 || outRows <= 0 || outCols <= 0)
    throw InputError("attention block maxima: empty range or resolution");
  outRows = std::min(outRows, nr);
  outCols = std::min(outCols, nc);
  std::vector<int64_t> rs(outRows + 1), cs(outCols + 1);
  for (int64_t r = 0; r <= outRows; ++r) rs[r] = row0 + r * nr / outRows;
  for (int64_t c = 0; c <= outCols; ++c) cs[c] = col0 + c * nc / outCols;
  return blockMaximaAt(headPos, rs, cs);
}

at::Tensor QueryKeyLayer::blockMaximaBySize(int headPos, int64_t row0, int64_t row1, int64_t col0, int64_t col1,
                                            int64_t blockRows, int64_t blockCols) const {
  if (row1 <= row0 || col1 <= col0 || blockRows <= 0 || blockCols <= 0)
    throw InputError("attention block maxima: empty range or block size");
  std::vector<int64_t> rs, cs;
  for (int64_t r = row0; r < row1; r += blockRows) rs.push_back(r);
  rs.push_back(row1);
  for (int64_t c = col0; c < col1; c += blockCols) cs.push_back(c);
  cs.push_back(col1);
  return blockMaximaAt(headPos, rs, cs);
}

at::Tensor QueryKeyLayer::blockMaximaAt(int headPos, const std::vector<int64_t>& rs, const std::vector<int64_t>& cs) const {
  const int64_t outRows = static_cast<int64_t>(rs.size()) - 1, outCols = static_cast<int64_t>(cs.size()) - 1;
  if (outRows <= 0 || outCols <= 0) throw InputError("attention block maxima: no blocks");
  const int64_t col0 = cs.front(), nc = cs.back() - col0;
  at::Tensor out = at::empty({outRows, outCols}, queries.options());  // [outRows, outCols]
  float* o = out.data_ptr<float>();
  // Row blocks are handled a few at a time, so one matrix product covers up to ~512 rows, in one buffer. The maxima
  // are taken over the cells' logarithms (s − lse) and exponentiated once per column of a block: exp is monotonic,
  // so that is the largest probability, at one exponential per column instead of per cell.
  std::vector<int64_t> groupEnds;  // row block indices where each group ends
  int64_t groupRows = 0;
  for (int64_t r = 0, rEnd; r < outRows; r = rEnd) {
    rEnd = r + 1;
    while (rEnd < outRows && rs[rEnd + 1] - rs[r] <= 512) ++rEnd;
    groupEnds.push_back(rEnd);
    groupRows = std::max(groupRows, rs[rEnd] - rs[r]);
  }
  const at::Tensor buffer = at::empty({groupRows, nc}, queries.options());  // [rows, cols]
  int64_t r = 0;
  for (const int64_t rEnd : groupEnds) {
    const int64_t first = rs[r];
    const at::Tensor t = buffer.narrow(0, 0, rs[rEnd] - first);  // [rows, cols]
    fillTile(*this, headPos, first, col0, t, true);
    for (int64_t b = r; b < rEnd; ++b) {
      const at::Tensor m = at::amax(t.narrow(0, rs[b] - first, rs[b + 1] - rs[b]), {0}).exp_().contiguous();  // [cols]
      const float* mp = m.data_ptr<float>();
      for (int64_t c = 0; c < outCols; ++c)
        o[b * outCols + c] = *std::max_element(mp + (cs[c] - col0), mp + (cs[c + 1] - col0));
    }
    r = rEnd;
  }
  return out;
}

int64_t QueryKeyLayer::bytes() const {
  int64_t n = 0;
  for (const at::Tensor* t : {&queries, &keys, &lse, &keyPaddingMask, &biasDiagonals})
    if (t->defined()) n += t->numel() * static_cast<int64_t>(t->element_size());
  return n;
}

at::Tensor toeplitzDiagonals(const at::Tensor& bias) {
  if (!bias.defined() || bias.dim() != 3) return at::Tensor();
  const int64_t tq = bias.size(1), tk = bias.size(2);
  const at::Tensor b = bias.to(at::kFloat);                      // [heads, q, k]
  at::Tensor below = at::flip(b.narrow(1, 1, tq - 1).select(2, 0), {1});  // [heads, q - 1]: j − i = −(q−1) … −1
  at::Tensor diag = at::cat({below, b.select(1, 0)}, 1).contiguous();      // [heads, q + k − 1]
  const auto opts = at::TensorOptions().dtype(at::kLong).device(b.device());
  const at::Tensor idx = (at::arange(tk, opts).unsqueeze(0) - at::arange(tq, opts).unsqueeze(1)).add_(tq - 1);  // [q, k]
  for (int64_t h = 0; h < b.size(0); ++h)
    if (!at::equal(diag[h].take(idx), b[h])) return at::Tensor();
  return diag;
}

namespace {
std::string dims(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}
}  // namespace

nlohmann::json queryKeyMetadata(const QueryKeyLayer& q) {
  nlohmann::json meta = {{"scale", q.scale},
                         {"causal", q.causal},
                         {"sliding_window", q.slidingWindow},
                         {"past", q.past},
                         {"total_heads", q.totalHeads}};
  // Written only where used, so files of models without them stay as before.
  if (q.softcap > 0) meta["softcap"] = q.softcap;
  if (q.chunkSize > 0) meta["chunk_size"] = q.chunkSize;
  return meta;
}

std::vector<std::pair<std::string, at::Tensor>> queryKeyTensors(const QueryKeyLayer& q) {
  std::vector<std::pair<std::string, at::Tensor>> out = {
      {"queries", q.queries}, {"keys", q.keys}, {"lse", q.lse}};  // [heads, q, d], [kv_heads, k, d], [heads, q]
  if (q.biasDiagonals.defined()) out.emplace_back("bias_diagonals", q.biasDiagonals);      // [heads, q + k - 1]
  if (q.keyPaddingMask.defined()) out.emplace_back("key_padding_mask", q.keyPaddingMask);  // [k]
  return out;
}

QueryKeyLayer readQueryKeyLayer(const nlohmann::json& e, std::vector<int>& heads,
                                const std::function<at::Tensor(const std::string&)>& tensor, const std::string& where) {
  QueryKeyLayer q;
  int64_t total = 0;
  try {
    q.scale = e.at("scale").get<double>();
    q.causal = e.at("causal").get<bool>();
    q.slidingWindow = e.at("sliding_window").get<int64_t>();
    q.past = e.at("past").get<int64_t>();
    total = e.at("total_heads").get<int64_t>();
    q.softcap = e.value("softcap", 0.0);
    q.chunkSize = e.value("chunk_size", int64_t(0));
  } catch (const nlohmann::json::exception& x) {
    throw InputError(where + "unreadable description: " + x.what());
  }
  if (!std::isfinite(q.softcap) || q.softcap < 0 || q.chunkSize < 0)
    throw InputError(where + "softcap or chunk_size out of range");
  if (!std::isfinite(q.scale) || q.slidingWindow < 0 || q.past < 0 || q.past > (int64_t(1) << 40) || total < 1 ||
      total > (1 << 16))
    throw InputError(where + "scale, sliding_window, past or total_heads out of range");
  q.totalHeads = static_cast<int>(total);
  auto need = [&](const std::string& what) {
    at::Tensor t = tensor(what);
    if (!t.defined()) throw InputError(where + "its " + what + " tensor is missing");
    return t;
  };
  auto asFloat = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat); };
  q.queries = asFloat(need("queries"));  // [heads, q, d]
  q.keys = asFloat(need("keys"));        // [kv_heads, k, d]
  q.lse = need("lse");                   // [heads, q] float64 (float32 accepted)
  if (q.lse.scalar_type() != at::kDouble && q.lse.scalar_type() != at::kFloat) q.lse = q.lse.to(at::kDouble);
  if (q.queries.dim() != 3 || q.keys.dim() != 3 || q.lse.dim() != 2 || q.queries.size(2) != q.keys.size(2) ||
      q.lse.size(0) != q.queries.size(0) || q.lse.size(1) != q.queries.size(1) || q.keys.size(0) < 1 ||
      total % q.keys.size(0) != 0)
    throw InputError(where + "queries " + dims(q.queries) + ", keys " + dims(q.keys) + " and lse " + dims(q.lse) +
                     " do not fit together (expected [heads, q, d], [kv_heads, k, d], [heads, q] with kv_heads "
                     "dividing " + std::to_string(total) + ")");
  if (heads.empty())
    for (int h = 0; h < q.queries.size(0); ++h) heads.push_back(h);
  if (static_cast<int64_t>(heads.size()) != q.queries.size(0))
    throw InputError(where + "holds " + std::to_string(q.queries.size(0)) + " query heads but the metadata lists " +
                     std::to_string(heads.size()));
  for (int h : heads)
    if (h < 0 || h >= total)
      throw InputError(where + "head " + std::to_string(h) + " but the layer has " + std::to_string(total));
  q.heads = heads;
  const at::Tensor bias = tensor("bias_diagonals");
  if (bias.defined()) {
    q.biasDiagonals = asFloat(bias);  // [heads, q + k - 1]
    if (q.biasDiagonals.dim() != 2 || q.biasDiagonals.size(0) != q.queries.size(0) ||
        q.biasDiagonals.size(1) != q.rows() + q.cols() - 1)
      throw InputError(where + "bias_diagonals is " + dims(q.biasDiagonals) + ", expected [heads, q + k - 1]");
  }
  const at::Tensor mask = tensor("key_padding_mask");
  if (mask.defined()) {
    q.keyPaddingMask = mask;  // [k]
    if (mask.scalar_type() != at::kBool || mask.dim() != 1 || mask.size(0) != q.cols())
      throw InputError(where + "key_padding_mask is not a bool [k] mask");
  }
  return q;
}

}  // namespace attnscope
