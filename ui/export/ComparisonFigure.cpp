#include "ComparisonFigure.h"

#include <QFileInfo>
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "HeatmapView.h"
#include "ViewFigure.h"

namespace attnscope {

namespace {

std::vector<float> headOf(const AttentionMatrix& a, int head) {
  int slot = -1;
  for (size_t i = 0; i < a.headIndex.size(); ++i)
    if (a.headIndex[i] == head) slot = static_cast<int>(i);
  if (slot < 0) throw std::runtime_error("head " + std::to_string(head) + " was not captured");
  if (a.onDemand) throw std::runtime_error("this long input's attention is computed on demand from queries and keys; export one head or a block of it with attnscope-cli head");
  std::vector<float> v(static_cast<size_t>(a.q) * a.k);
  for (int i = 0; i < a.q; ++i)
    for (int j = 0; j < a.k; ++j) v[static_cast<size_t>(i) * a.k + j] = a.at(slot, i, j);
  return v;
}

bool isPruned(const VariantPanel& p, int layer, int head) {
  const std::string name = "L" + std::to_string(layer) + "H" + std::to_string(head);
  return std::find(p.prunedHeads.begin(), p.prunedHeads.end(), name) != p.prunedHeads.end();
}

}  // namespace

void writeComparisonFigure(const FigureRequest& r, const ComparisonResult& result, int differenceOf) {
  if (result.panels.empty()) throw std::runtime_error("the comparison has no panels");
  const CaptureResult& c0 = result.panels.front().capture;
  size_t si = 0;
  while (si < c0.stacks.size() && c0.stacks[si] != r.stack) ++si;
  if (si == c0.stacks.size()) {
    if (!r.stack.empty()) throw std::runtime_error("the comparison has no stack '" + r.stack + "'");
    si = 0;
  }
  const std::string stack = c0.stacks.empty() ? "self" : c0.stacks[si];
  std::vector<const AttentionMatrix*> mats;
  double top = 0;
  for (const auto& p : result.panels) {
    const AttentionMatrix* a = p.capture.find(stack, r.layer);
    if (!a) throw std::runtime_error("layer " + std::to_string(r.layer) + " was not captured");
    mats.push_back(a);
    for (float x : headOf(*a, r.head)) top = std::max(top, static_cast<double>(x));
  }
  const QString colormap = QString::fromStdString(r.colormap);
  std::vector<std::unique_ptr<QWidget>> owners;
  std::vector<ViewPiece> pieces;
  auto place = [&](std::unique_ptr<HeatmapView> v, QRect rect) {
    v->resize(rect.size());
    ViewPiece piece;
    piece.plot = v->plot();
    piece.rect = rect;
    pieces.push_back(piece);
    owners.push_back(std::move(v));
  };
  const int w = 440, h = 400;
  // Row 1: full and every variant on one colour scale.
  for (size_t i = 0; i < result.panels.size(); ++i) {
    auto v = std::make_unique<HeatmapView>();
    v->setColorMap(colormap);
    const VariantPanel& p = result.panels[i];
    v->setMatrix(headOf(*mats[i], r.head), mats[i]->q, mats[i]->k, c0.stackQueryLabels[si], c0.stackKeyLabels[si],
                 QString("%1 — L%2 H%3%4")
                     .arg(QString::fromStdString(p.spec).left(48))
                     .arg(r.layer)
                     .arg(r.head)
                     .arg(isPruned(p, r.layer, r.head) ? " (pruned)" : ""),
                 0.0, top > 0 ? top : 1.0);
    place(std::move(v), QRect(static_cast<int>(i) * w, 0, w, h));
  }
  // Row 2: the difference map and the JS grid of one variant, and the metrics of every variant.
  const int vi = std::clamp(differenceOf, 1, static_cast<int>(result.panels.size()) - 1);
  if (result.panels.size() > 1) {
    const VariantPanel& p = result.panels[static_cast<size_t>(vi)];
    const std::vector<float> f = headOf(*mats[0], r.head), g = headOf(*mats[static_cast<size_t>(vi)], r.head);
    std::vector<float> d(f.size());
    double span = 1e-6;
    for (size_t i = 0; i < f.size(); ++i) {
      d[i] = g[i] - f[i];
      span = std::max(span, std::abs(static_cast<double>(d[i])));
    }
    auto diff = std::make_unique<HeatmapView>();
    diff->setMatrix(d, mats[0]->q, mats[0]->k, c0.stackQueryLabels[si], c0.stackKeyLabels[si],
                    QString("%1 − full").arg(QString::fromStdString(p.spec).left(40)), -span, span, "diverging",
                    "difference");
    place(std::move(diff), QRect(0, h + 10, w, h));
    std::vector<std::string> rows, cols;
    for (int l = 0; l < result.layers; ++l) rows.push_back("L" + std::to_string(l));
    for (int hd = 0; hd < result.heads; ++hd) cols.push_back("H" + std::to_string(hd));
    auto js = std::make_unique<HeatmapView>();
    js->setColorMap(colormap);
    const double jsTop = p.jsGrid.empty() ? 1.0 : std::max(1e-6, static_cast<double>(*std::max_element(p.jsGrid.begin(), p.jsGrid.end())));
    js->setMatrix(p.jsGrid, result.layers, result.heads, rows, cols, "JS per head (× = pruned)", 0.0, jsTop, QString(),
                  "mean JS (nats)", "layer", "head");
    std::vector<std::pair<int, int>> marks;
    for (int l = 0; l < result.layers; ++l)
      for (int hd = 0; hd < result.heads; ++hd)
        if (isPruned(p, l, hd)) marks.push_back({l, hd});
    js->setMarkedCells(marks);
    place(std::move(js), QRect(w, h + 10, w, h));
  }
  // The metrics table as text (vectors in PDF/SVG).
  auto table = std::make_unique<QCustomPlot>();
  table->plotLayout()->clear();
  QString text = QString("%1 %2 %3 %4 %5 %6\n").arg("variant", -26).arg("× time", 7).arg("FLOPs", 6).arg("mean JS", 8)
                     .arg("top-1", 6).arg("logits KL", 10);
  for (const auto& p : result.panels)
    text += QString("%1 %2 %3 %4 %5 %6\n")
                .arg(QString::fromStdString(p.spec).left(26), -26)
                .arg(p.timeRatio, 7, 'f', 2)
                .arg(p.flopsRatio, 6, 'f', 2)
                .arg(p.meanJs, 8, 'f', 4)
                .arg(p.top1Agreement, 6, 'f', 3)
                .arg(p.logitsKl, 10, 'g', 3);
  auto* element = new QCPTextElement(table.get(), text.trimmed(), QFont("DejaVu Sans Mono", 9));
  element->setTextFlags(Qt::AlignLeft | Qt::AlignTop);
  table->plotLayout()->addElement(0, 0, element);
  const int tableX = result.panels.size() > 1 ? 2 * w : 0;
  const int tableW = std::max(460, static_cast<int>(result.panels.size()) * w - tableX);
  table->resize(tableW, h);
  ViewPiece piece;
  piece.plot = table.get();
  piece.rect = QRect(tableX, h + 10, tableW, h);
  pieces.push_back(piece);
  owners.push_back(std::move(table));
  writeViewFigure(pieces, QString::fromStdString(r.out), r.dpi);
}

}  // namespace attnscope
