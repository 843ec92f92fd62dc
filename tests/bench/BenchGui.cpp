// GUI drawing benchmark (Qt offscreen): prints medians against the targets of the GUI design.
//   head switch at 512 tokens (setAttention + replot of a 1100×750 head view)   target ≤ 16 ms
//   full 12 × 12 overview grid rebuild + paint                                   target ≤ 150 ms
//   one 4096-token head (drawn at screen resolution) + replot                    target ≤ 50 ms
// Synthetic softmax rows (random logits); timings are wall clock on this machine, one process, alternating heads.
#include <QApplication>
#include <QElapsedTimer>
#include <QPixmap>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "HeatmapView.h"
#include "OverviewView.h"

using namespace attnscope;

namespace {
AttentionMatrix randomLayer(int layer, int heads, int n, std::mt19937& rng) {
  AttentionMatrix a;
  a.stack = "self";
  a.layer = layer;
  a.heads = heads;
  a.q = a.k = n;
  for (int h = 0; h < heads; ++h) a.headIndex.push_back(h);
  a.data.resize(static_cast<size_t>(heads) * n * n);
  std::normal_distribution<float> logit(0.0f, 2.0f);
  std::vector<float> row(n);
  for (size_t r = 0; r < static_cast<size_t>(heads) * n; ++r) {
    float sum = 0;
    for (int j = 0; j < n; ++j) sum += row[j] = std::exp(logit(rng));
    for (int j = 0; j < n; ++j) a.data[r * n + j] = row[j] / sum;
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::string> labels(int n) {
  std::vector<std::string> l;
  for (int i = 0; i < n; ++i) l.push_back("tok" + std::to_string(i));
  return l;
}
}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  std::mt19937 rng(7);

  // 1. Head switch at 512 tokens.
  HeatmapView view;
  view.resize(1100, 750);
  view.show();
  const AttentionMatrix l512 = randomLayer(0, 12, 512, rng);
  const auto lab512 = labels(512);
  view.setAttention(l512, 0, lab512, lab512, "warm-up");
  view.plot()->replot(QCustomPlot::rpImmediateRefresh);
  std::vector<double> sw;
  for (int i = 0; i < 36; ++i) {
    QElapsedTimer t;
    t.start();
    view.setAttention(l512, i % 12, lab512, lab512, QString("head %1").arg(i % 12));
    view.plot()->replot(QCustomPlot::rpImmediateRefresh);
    sw.push_back(t.nsecsElapsed() / 1e6);
  }

  // 2. Overview of a 12-layer × 12-head model at 512 tokens.
  auto cap = std::make_shared<CaptureResult>();
  cap->stacks = {"self"};
  cap->stackQueryLabels = {lab512};
  cap->stackKeyLabels = {lab512};
  for (int l = 0; l < 12; ++l) cap->layers.push_back(l == 0 ? l512 : randomLayer(l, 12, 512, rng));
  OverviewView overview;
  overview.resize(1100, 1000);
  overview.show();
  std::vector<double> ov;
  for (int i = 0; i < 7; ++i) {
    QElapsedTimer t;
    t.start();
    overview.setCapture(cap, "self");
    overview.repaint();
    ov.push_back(t.nsecsElapsed() / 1e6);
  }

  // 3. One 4096-token head.
  AttentionMatrix big = randomLayer(0, 1, 4096, rng);
  const auto lab4096 = labels(4096);
  std::vector<double> lg, lgSet;
  for (int i = 0; i < 7; ++i) {
    if (i % 2) std::reverse(big.data.begin(), big.data.begin() + 4096);  // a different matrix each time
    QElapsedTimer t;
    t.start();
    view.setAttention(big, 0, lab4096, lab4096, "4096 tokens");
    lgSet.push_back(t.nsecsElapsed() / 1e6);
    view.plot()->replot(QCustomPlot::rpImmediateRefresh);
    lg.push_back(t.nsecsElapsed() / 1e6);
  }
  const QSize drawn = view.drawnCells();

  std::printf("GUI drawing benchmark (median ms; Qt platform %s)\n", qPrintable(QGuiApplication::platformName()));
  std::printf("  head switch, 512 tokens, 1100x750 view   %7.2f ms   target <= 16   %s\n", median(sw),
              median(sw) <= 16 ? "met" : "NOT met");
  std::printf("  12 x 12 overview grid, 512 tokens         %7.2f ms   target <= 150  %s\n", median(ov),
              median(ov) <= 150 ? "met" : "NOT met");
  std::printf("  one head, 4096 tokens (drawn %dx%d cells) %7.2f ms   target <= 50   %s\n", drawn.width(),
              drawn.height(), median(lg), median(lg) <= 50 ? "met" : "NOT met");
  std::printf("    of which setAttention (copy, range, downsample)  %7.2f ms\n", median(lgSet));
  return 0;
}
