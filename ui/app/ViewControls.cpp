#include "ViewControls.h"

#include <QHBoxLayout>
#include <QSignalBlocker>
#include <algorithm>

#include "ColorMaps.h"

namespace attnscope {

ViewControls::ViewControls(AnalysisDocument* document, ViewState* view, QWidget* parent)
    : QWidget(parent), m_doc(document), m_view(view) {
  auto* row = new QHBoxLayout(this);
  row->setContentsMargins(0, 0, 0, 0);
  m_stack = new QComboBox(this);
  m_stack->setToolTip(tr("Attention stack (encoder, decoder, cross)"));
  m_stack->setVisible(false);
  m_layer = new QSpinBox(this);
  m_head = new QSpinBox(this);
  m_layer->setPrefix(tr("layer "));
  m_head->setPrefix(tr("head "));
  m_layer->setToolTip(tr("Layer (Page Up / Page Down)"));
  m_head->setToolTip(tr("Head ([ / ])"));
  m_step = new QSpinBox(this);
  m_step->setPrefix(tr("step "));
  m_step->setToolTip(tr("Generated step whose query row is pinned in the head view and token lines"));
  m_step->setVisible(false);
  m_colormap = new QComboBox(this);
  m_colormap->addItems(ColorMaps::names());
  m_colormap->setToolTip(tr("Colour map"));
  m_scale = new QComboBox(this);
  m_scale->addItems({tr("linear"), tr("log"), tr("power")});
  m_scale->setToolTip(tr("Colour scale: linear, log10 (four decades below the top) or value^γ"));
  m_gamma = new QDoubleSpinBox(this);
  m_gamma->setPrefix(tr("γ "));
  m_gamma->setRange(0.1, 3.0);
  m_gamma->setSingleStep(0.1);
  m_autoRange = new QCheckBox(tr("auto range"), this);
  m_autoRange->setToolTip(tr("Colour range 0 .. the head's largest weight; off: the fixed range on the right"));
  m_rangeLo = new QDoubleSpinBox(this);
  m_rangeHi = new QDoubleSpinBox(this);
  for (QDoubleSpinBox* b : {m_rangeLo, m_rangeHi}) {
    b->setDecimals(3);
    b->setRange(0.0, 1.0);
    b->setSingleStep(0.05);
  }
  m_words = new QCheckBox(tr("words"), this);
  m_words->setToolTip(tr("Merge sub-word pieces into words in the text views: a query's weight on a word is the sum "
                         "over the word's key pieces, a word's row the mean over its query pieces (rows still sum "
                         "to 1)"));
  m_words->setVisible(false);
  m_prediction = new QLabel(this);
  m_prediction->setMinimumWidth(40);
  m_prediction->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  row->addWidget(m_stack);
  row->addWidget(m_layer);
  row->addWidget(m_head);
  row->addWidget(m_step);
  row->addWidget(m_colormap);
  row->addWidget(m_scale);
  row->addWidget(m_gamma);
  row->addWidget(m_autoRange);
  row->addWidget(m_rangeLo);
  row->addWidget(m_rangeHi);
  row->addWidget(m_words);
  row->addWidget(m_prediction, 1);
  showState();

  connect(m_stack, &QComboBox::currentTextChanged, this, [this](const QString& stack) {
    m_view->setStack(stack);
    onStep();  // a generated step's row exists in some stacks only
  });
  connect(m_layer, qOverload<int>(&QSpinBox::valueChanged), m_view, &ViewState::setLayer);
  connect(m_head, qOverload<int>(&QSpinBox::valueChanged), m_view, &ViewState::setHead);
  connect(m_step, qOverload<int>(&QSpinBox::valueChanged), m_view, &ViewState::setStep);
  connect(m_colormap, &QComboBox::currentTextChanged, m_view, &ViewState::setColorMap);
  connect(m_scale, &QComboBox::currentIndexChanged, this, &ViewControls::pushAppearance);
  connect(m_gamma, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &ViewControls::pushAppearance);
  connect(m_autoRange, &QCheckBox::toggled, this, &ViewControls::pushAppearance);
  connect(m_rangeLo, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &ViewControls::pushAppearance);
  connect(m_rangeHi, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &ViewControls::pushAppearance);
  connect(m_words, &QCheckBox::toggled, m_view, &ViewState::setWords);
  connect(m_view, &ViewState::wordsChanged, this, &ViewControls::showState);
  connect(m_view, &ViewState::headChanged, this, &ViewControls::showState);
  connect(m_view, &ViewState::appearanceChanged, this, &ViewControls::showState);
  connect(m_view, &ViewState::stepChanged, this, [this] {
    showState();
    onStep();
  });
  connect(m_doc, &AnalysisDocument::modelChanged, this, &ViewControls::onCapture);
  connect(m_doc, &AnalysisDocument::captureChanged, this, &ViewControls::onCapture);
}

void ViewControls::pushAppearance() {
  m_view->setScale(static_cast<ViewState::Scale>(m_scale->currentIndex()), m_gamma->value());
  m_view->setRange(m_autoRange->isChecked(), m_rangeLo->value(), m_rangeHi->value());
}

void ViewControls::showState() {
  const QSignalBlocker b0(m_stack), b1(m_layer), b2(m_head), b3(m_step), b4(m_colormap), b5(m_scale), b6(m_gamma),
      b7(m_autoRange), b8(m_rangeLo), b9(m_rangeHi), b10(m_words);
  m_words->setChecked(m_view->words());
  if (m_stack->findText(m_view->stack()) >= 0) m_stack->setCurrentText(m_view->stack());
  m_layer->setValue(m_view->layer());
  m_head->setValue(m_view->head());
  m_step->setValue(m_view->step());
  m_colormap->setCurrentText(m_view->colorMap());
  m_scale->setCurrentIndex(static_cast<int>(m_view->scale()));
  m_gamma->setValue(m_view->gamma());
  m_gamma->setVisible(m_view->scale() == ViewState::Scale::Power);
  m_autoRange->setChecked(m_view->autoRange());
  m_rangeLo->setValue(m_view->rangeLo());
  m_rangeHi->setValue(m_view->rangeHi());
  m_rangeLo->setVisible(!m_view->autoRange());
  m_rangeHi->setVisible(!m_view->autoRange());
}

void ViewControls::onCapture() {
  const auto capture = m_doc->capture();
  m_prediction->setText(capture ? QString::fromStdString(capture->predictionText) +
                                      (capture->variant.empty()
                                           ? QString()
                                           : QString("  [%1]").arg(QString::fromStdString(capture->variant)))
                                : QString());
  m_prediction->setToolTip(m_prediction->text());
  {
    const QSignalBlocker block(m_stack);
    m_stack->clear();
    if (capture)
      for (const auto& st : capture->stacks) m_stack->addItem(QString::fromStdString(st));
    m_stack->setVisible(capture && capture->stacks.size() > 1);
  }
  m_words->setVisible(m_doc->hasModel() && m_doc->summary().modality == "text");
  const int layers = m_doc->layerCount(), heads = m_doc->headCount();
  {
    const QSignalBlocker b1(m_layer), b2(m_head);
    m_layer->setRange(0, std::max(0, layers - 1));
    m_head->setRange(0, std::max(0, heads - 1));
  }
  // The view state keeps its stack when the new capture has it; else the capture's first.
  if (capture && !capture->stacks.empty() && m_stack->findText(m_view->stack()) < 0)
    m_view->setStack(QString::fromStdString(capture->stacks.front()));
  m_view->setLayerHead(std::min(m_view->layer(), std::max(0, layers - 1)),
                       std::min(m_view->head(), std::max(0, heads - 1)));
  const bool generation = capture && m_doc->promptLength() >= 0;
  m_step->setVisible(generation);
  if (generation) {
    // Steps count along the generated sequence: the decoder of an encoder–decoder model, else the one stack.
    const auto dec = std::find(capture->stacks.begin(), capture->stacks.end(), "decoder");
    const size_t di = dec == capture->stacks.end() ? 0 : static_cast<size_t>(dec - capture->stacks.begin());
    const int steps = std::max(0, static_cast<int>(capture->stackQueryLabels[di].size()) - m_doc->promptLength());
    {
      const QSignalBlocker block(m_step);
      m_step->setRange(0, steps);
    }
    m_step->setToolTip(tr("Generated step (1..%1; 0 = none) whose query row is pinned").arg(steps));
    // Encoder–decoder generation: show the cross-attention, each generated token against the input.
    if (m_stack->findText("cross") >= 0 && m_view->stack() == "encoder") m_view->setStack("cross");
    m_view->setStep(steps);
    onStep();
  }
  showState();
}

void ViewControls::onStep() {
  const auto capture = m_doc->capture();
  if (!capture || m_doc->promptLength() < 0) return;
  const int step = m_view->step();
  // Generated rows exist in the decoder's self- and cross-attention (or the one stack of a decoder-only model).
  const int si = m_doc->stackIndex(m_view->stack());
  const bool rows = capture->stacks[si] != "encoder";
  const int row = step > 0 && rows ? m_doc->promptLength() + step - 1 : -1;
  m_view->setPin(row, -1);
  const auto& labels = capture->stackQueryLabels[si];
  if (row >= 0 && row < static_cast<int>(labels.size()))
    emit statusMessage(tr("Step %1: generated '%2'").arg(step).arg(QString::fromStdString(labels[row])));
}

}  // namespace attnscope
