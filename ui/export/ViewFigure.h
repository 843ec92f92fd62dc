#pragma once
// Figures of views as they are on screen (aggregates, head metrics, token lines, the input overlay): the pieces are
// drawn at their on-screen places, plots and self-painting views as vectors in SVG/PDF, pictures as images.
#include <QImage>
#include <QRect>
#include <QString>
#include <vector>

class QCustomPlot;
class QWidget;

namespace attnscope {

/// One piece of a view figure: exactly one of plot, widget or image; rect is its place in points.
struct ViewPiece {
  QCustomPlot* plot = nullptr;
  QWidget* widget = nullptr;
  QImage image;
  QRect rect;
};

/// Writes \p pieces to \p path (.png at \p dpi, .svg or .pdf) atomically; throws std::runtime_error with a message
/// that names the problem (unknown extension, nothing to draw, unwritable file).
void writeViewFigure(const std::vector<ViewPiece>& pieces, const QString& path, int dpi);

}  // namespace attnscope
