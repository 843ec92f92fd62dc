#include "FigureExport.h"

#include <QApplication>
#include <QFile>
#include <QFileInfo>
#include <QGuiApplication>
#include <QImage>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QBuffer>
#include <QSaveFile>
#include <QScreen>
#include <QSvgGenerator>
#include <QTemporaryFile>
#include <cmath>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>

#include "ColorMaps.h"
#include "HeatmapView.h"
#include "AtomicWrite.h"
#include "ViewFigure.h"

namespace attnscope {

namespace {

struct Cell {
  std::unique_ptr<QWidget> owner;  // a HeatmapView, or a bare plot for a figure title or a colour bar
  QCustomPlot* plot = nullptr;
  QRect rect;  // where it goes, in points
};

Cell viewCell(std::unique_ptr<HeatmapView> view, QRect rect) {
  Cell c;
  c.plot = view->plot();
  c.owner = std::move(view);
  c.rect = rect;
  return c;
}

/// A plot holding only a title line.
Cell titleCell(const QString& text, QRect rect) {
  auto plot = std::make_unique<QCustomPlot>();
  plot->plotLayout()->clear();
  plot->plotLayout()->addElement(0, 0, new QCPTextElement(plot.get(), text, QFont(plot->font().family(), 12, QFont::Bold)));
  Cell c;
  c.plot = plot.get();
  c.owner = std::move(plot);
  c.rect = rect;
  return c;
}

/// A plot holding only a vertical colour bar over [lo, hi], drawn like the views' own.
Cell colorBarCell(const QString& gradient, double lo, double hi, const QString& label, QRect rect) {
  auto plot = std::make_unique<QCustomPlot>();
  plot->plotLayout()->clear();
  auto* scale = new QCPColorScale(plot.get());
  plot->plotLayout()->addElement(0, 0, scale);
  scale->setType(QCPAxis::atRight);
  scale->setGradient(ColorMaps::gradient(gradient));
  scale->setDataRange(QCPRange(lo, hi));
  scale->setBarWidth(14);
  scale->axis()->setLabel(label);
  scale->setMinimumMargins(QMargins(0, 12, 0, 12));  // room for the end labels ("0", "1") above and below the bar
  Cell c;
  c.plot = plot.get();
  c.owner = std::move(plot);
  c.rect = rect;
  return c;
}

size_t stackIndex(const CaptureResult& c, const std::string& stack) {
  for (size_t i = 0; i < c.stacks.size(); ++i)
    if (c.stacks[i] == stack) return i;
  if (!stack.empty()) throw std::runtime_error("the capture has no stack '" + stack + "'");
  return 0;
}

std::vector<float> headValues(const AttentionMatrix& a, int slot) {
  if (a.onDemand) throw std::runtime_error("this long input's attention is computed on demand from queries and keys; export one head or a block of it with attnscope-cli head");
  std::vector<float> v(static_cast<size_t>(a.q) * a.k);
  for (int i = 0; i < a.q; ++i)
    for (int j = 0; j < a.k; ++j) v[static_cast<size_t>(i) * a.k + j] = a.at(slot, i, j);
  return v;
}

int slotOf(const AttentionMatrix& a, int head) {
  for (size_t i = 0; i < a.headIndex.size(); ++i)
    if (a.headIndex[i] == head) return static_cast<int>(i);
  throw std::runtime_error("head " + std::to_string(head) + " was not captured");
}

std::vector<Cell> layout(const FigureRequest& r, const std::vector<CaptureResult>& caps,
                         const std::vector<std::string>& names) {
  if (caps.empty()) throw std::runtime_error("no capture to draw");
  std::vector<Cell> cells;
  const CaptureResult& c0 = caps.front();
  const size_t si = stackIndex(c0, r.stack);
  const std::string stack = c0.stacks.empty() ? "self" : c0.stacks[si];
  auto make = [&](const CaptureResult& c, int layer, int head, const QString& title, bool small, double lo, double hi) {
    const AttentionMatrix* a = c.find(stack, layer);
    if (!a) throw std::runtime_error("layer " + std::to_string(layer) + " of stack '" + stack + "' was not captured");
    if (a->onDemand) throw std::runtime_error("this long input's attention is computed on demand from queries and keys; export one head or a block of it with attnscope-cli head");
    auto v = std::make_unique<HeatmapView>();
    v->setColorMap(QString::fromStdString(r.colormap));
    const auto& ql = small ? std::vector<std::string>{} : c.stackQueryLabels[si];
    const auto& kl = small ? std::vector<std::string>{} : c.stackKeyLabels[si];
    v->setMatrix(headValues(*a, slotOf(*a, head)), a->q, a->k, ql, kl, title, lo, hi);
    if (small) v->setCompact(true);
    return v;
  };
  if (r.kind == "head") {
    // Encoder–decoder captures name the stack: "cross-attention, layer 1, head 1".
    const QString where = stack == "self" ? QString() : QString::fromStdString(stack) + (stack == "cross" ? "-attention, " : ", ");
    cells.push_back(viewCell(make(c0, r.layer, r.head, where + QString("layer %1, head %2").arg(r.layer).arg(r.head), false, 0, 1),
                             QRect(0, 0, 720, 640)));
  } else if (r.kind == "grid") {
    std::vector<int> layers;
    for (const auto& m : c0.layers)
      if (m.stack == stack) layers.push_back(m.layer);
    if (layers.empty()) throw std::runtime_error("nothing captured for stack '" + stack + "'");
    const AttentionMatrix* first = c0.find(stack, layers.front());
    const int heads = static_cast<int>(first->headIndex.size());
    const int w = 120, h = 130, top = 36, bar = 90;
    // Title across the top, the grid (a row per layer, a column per head) under it, one colour bar for every cell.
    const QString stackName = QString::fromStdString(stack.empty() ? c0.stacks.front() : stack);
    cells.push_back(titleCell(QString("Attention of every head (%1 stack): rows are layers, columns heads").arg(stackName),
                              QRect(0, 0, heads * w + bar, top)));
    for (size_t li = 0; li < layers.size(); ++li)
      for (int hi = 0; hi < heads; ++hi)
        cells.push_back(viewCell(make(c0, layers[li], first->headIndex[hi],
                                      QString("L%1 H%2").arg(layers[li]).arg(first->headIndex[hi]), true, 0, 1),
                                 QRect(hi * w, top + static_cast<int>(li) * h, w, h)));
    const int gridHeight = static_cast<int>(layers.size()) * h;
    const int barHeight = std::min(gridHeight, 420);
    cells.push_back(colorBarCell(QString::fromStdString(r.colormap), 0, 1, "attention weight",
                                 QRect(heads * w, top + (gridHeight - barHeight) / 2, bar, barHeight)));
  } else if (r.kind == "compare") {
    // One colour scale for every panel: 0 .. the largest weight shown.
    double top = 0;
    for (const auto& c : caps) {
      const AttentionMatrix* a = c.find(stack, r.layer);
      if (!a) continue;
      for (float x : headValues(*a, slotOf(*a, r.head))) top = std::max(top, static_cast<double>(x));
    }
    for (size_t i = 0; i < caps.size(); ++i)
      cells.push_back(viewCell(make(caps[i], r.layer, r.head,
                                    QString("%1 — L%2 H%3").arg(QString::fromStdString(i < names.size() ? names[i] : "")).arg(r.layer).arg(r.head),
                                    false, 0, top > 0 ? top : 1),
                               QRect(static_cast<int>(i) * 560, 0, 560, 520)));
  } else {
    throw std::runtime_error("figure kind must be head, grid or compare (got '" + r.kind + "')");
  }
  return cells;
}

/// Every cell's plot at its place, drawn as vectors where the device allows.
void paintCells(QCPPainter& painter, std::vector<Cell>& cells) {
  for (auto& c : cells) {
    painter.save();
    painter.translate(c.rect.topLeft());
    c.plot->toPainter(&painter, c.rect.width(), c.rect.height());
    painter.restore();
  }
}

QSize extent(const std::vector<Cell>& cells) {
  QRect all;
  for (const auto& c : cells) all = all.united(c.rect);
  return all.size();
}

}  // namespace

std::pair<int, int> figureSize(const FigureRequest& request, const std::vector<CaptureResult>& captures) {
  auto cells = layout(request, captures, {});
  const QSize s = extent(cells);
  return {s.width(), s.height()};
}

namespace {

/// Paints \p size points of figure with \p paint into \p out as PNG (at \p dpi), SVG or PDF, written atomically.
/// The plots lay their text out with the screen's font metrics (logical DPI L): every device is painted at that same logical DPI, so text takes exactly the room the layout gave it (a PNG painted at its
/// output DPI drew text dpi/L times larger than laid out and clipped axis labels). One figure unit is one point.
/// Refuses a request before anything is drawn: no application, no file, an unknown format, a DPI out of range.
void checkOutput(const std::string& format, int dpi, const std::string& path) {
  if (!QApplication::instance()) throw std::runtime_error("figures need a QApplication");
  if (path.empty()) throw std::runtime_error("no output file");
  if (format != "png" && format != "svg" && format != "pdf")
    throw std::runtime_error("--format must be png, svg or pdf (got '" + format + "')");
  if (dpi < 36 || dpi > 1200) throw std::runtime_error("--dpi must be between 36 and 1200");
}

/// Callers check the request with checkOutput() first.
void writeFigureFile(QSize size, const std::string& format, int dpi, const std::string& path,
                     const std::function<void(QCPPainter&)>& paint) {
  if (size.isEmpty()) throw std::runtime_error("nothing to draw");
  QBuffer buffer;
  buffer.open(QIODevice::WriteOnly);
  bool ok = false;
  const double logicalDpi = QGuiApplication::primaryScreen() ? QGuiApplication::primaryScreen()->logicalDotsPerInchY() : 96.0;
  const int dotsPerMeter = static_cast<int>(std::lround(logicalDpi / 0.0254));
  if (format == "png") {
    const double scale = dpi / 72.0;
    QImage img(static_cast<int>(size.width() * scale), static_cast<int>(size.height() * scale), QImage::Format_ARGB32);
    img.setDotsPerMeterX(dotsPerMeter);
    img.setDotsPerMeterY(dotsPerMeter);
    img.fill(Qt::white);
    {
      QCPPainter painter(&img);
      painter.setRenderHint(QPainter::Antialiasing);
      painter.scale(scale, scale);
      paint(painter);
    }
    img.setDotsPerMeterX(static_cast<int>(std::lround(dpi / 0.0254)));  // the file says the DPI asked for
    img.setDotsPerMeterY(static_cast<int>(std::lround(dpi / 0.0254)));
    ok = img.save(&buffer, "PNG");
  } else if (format == "svg") {
    QSvgGenerator svg;
    svg.setOutputDevice(&buffer);
    svg.setResolution(static_cast<int>(std::lround(logicalDpi)));
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle("AttnScope figure");
    {
      QCPPainter painter(&svg);
      paint(painter);
    }
    ok = buffer.size() > 0;
  } else {
    QPdfWriter pdf(&buffer);
    pdf.setCreator("AttnScope");
    pdf.setResolution(static_cast<int>(std::lround(logicalDpi)));
    pdf.setPageSize(QPageSize(QSizeF(size), QPageSize::Point));
    pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
    {
      QCPPainter painter(&pdf);
      painter.scale(logicalDpi / 72.0, logicalDpi / 72.0);  // figure units are points
      paint(painter);
    }
    ok = buffer.size() > 0;
  }
  if (!ok) throw std::runtime_error("cannot draw the figure for '" + path + "'");
  writeFileAtomically(QString::fromStdString(path), buffer.data());  // the old file stays unless all is written
}

}  // namespace

void renderFigure(const FigureRequest& r, const std::vector<CaptureResult>& caps, const std::vector<std::string>& names) {
  checkOutput(r.format, r.dpi, r.out);
  auto cells = layout(r, caps, names);
  writeFigureFile(extent(cells), r.format, r.dpi, r.out, [&](QCPPainter& painter) { paintCells(painter, cells); });
}

void writeViewFigure(const std::vector<ViewPiece>& pieces, const QString& path, int dpi) {
  QRect all;
  for (const auto& p : pieces) all = all.united(p.rect);
  const std::string format = QFileInfo(path).suffix().toLower().toStdString();
  checkOutput(format, dpi, path.toStdString());
  writeFigureFile(all.size(), format, dpi, path.toStdString(), [&](QCPPainter& painter) {
    for (const auto& p : pieces) {
      painter.save();
      painter.translate(p.rect.topLeft() - all.topLeft());
      if (p.plot) {
        p.plot->toPainter(&painter, p.rect.width(), p.rect.height());
      } else if (p.widget) {  // a view that paints itself with QPainter: its lines and text stay vectors
        p.widget->render(&painter, QPoint(), QRegion(QRect(QPoint(0, 0), p.rect.size())), QWidget::DrawChildren);
      } else if (!p.image.isNull()) {
        painter.setRenderHint(QPainter::SmoothPixmapTransform);
        painter.drawImage(QRect(QPoint(0, 0), p.rect.size()), p.image);
      }
      painter.restore();
    }
  });
}

}  // namespace attnscope

namespace attnscope {

void ensureFigureApplication() {
  if (!QApplication::instance()) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY") &&
        qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY"))
      qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "attnscope-cli";
    static char* argv[] = {name, nullptr};
    static QApplication* app = new QApplication(argc, argv);
    Q_UNUSED(app);
  }
}

void renderFigureHeadless(const FigureRequest& request, const std::vector<CaptureResult>& captures,
                          const std::vector<std::string>& names) {
  ensureFigureApplication();
  renderFigure(request, captures, names);
}

}  // namespace attnscope
