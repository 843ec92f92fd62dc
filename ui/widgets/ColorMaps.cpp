#include "ColorMaps.h"

namespace attnscope {

QCPColorGradient ColorMaps::gradient(const QString& name) {
  QCPColorGradient g;
  g.clearColorStops();
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  if (name == "magma") {
    const char* stops[] = {"#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55064", "#fb8761", "#fec287",
                           "#fcfdbf"};
    for (int i = 0; i < 9; ++i) g.setColorStopAt(i / 8.0, QColor(stops[i]));
  } else if (name == "diverging") {  // ColorBrewer RdBu, reversed: blue = negative, white = 0, red = positive
    const char* stops[] = {"#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d",
                           "#b2182b"};
    for (int i = 0; i < 9; ++i) g.setColorStopAt(i / 8.0, QColor(stops[i]));
  } else if (name == "greys") {
    g.setColorStopAt(0.0, QColor("#ffffff"));
    g.setColorStopAt(1.0, QColor("#000000"));
  } else {  // viridis
    const char* stops[] = {"#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                           "#b5de2b", "#fde725"};
    for (int i = 0; i < 10; ++i) g.setColorStopAt(i / 9.0, QColor(stops[i]));
  }
  return g;
}

void ColorMaps::fill(QCPColorMapData* d, int x0, int nx, int bx, int y0, int ny, int by,
                     const std::function<double(int, int)>& value) {
  auto span = [](int o, int n, int b) {  // cell centres; one cell spans b matrix cells around its centre
    const double c = o + (b - 1) / 2.0;
    return n == 1 ? QCPRange(c - b / 4.0, c + b / 4.0) : QCPRange(c, c + (n - 1) * static_cast<double>(b));
  };
  d->setSize(std::max(nx, 2), std::max(ny, 2));
  d->setRange(span(x0, nx, bx), span(y0, ny, by));
  for (int i = 0; i < std::max(ny, 2); ++i)
    for (int j = 0; j < std::max(nx, 2); ++j) d->setCell(j, i, value(std::min(j, nx - 1), std::min(i, ny - 1)));
}

}  // namespace attnscope
