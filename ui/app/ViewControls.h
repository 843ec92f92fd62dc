#pragma once
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QSpinBox>
#include <QWidget>

#include "AnalysisDocument.h"
#include "ViewState.h"

namespace attnscope {

/// The view row: stack, layer, head, generation step, colour map, colour scale and range, and the run's
/// prediction. Two-way bound to the ViewState; ranges and stacks follow the document's capture.
class ViewControls : public QWidget {
  Q_OBJECT
 public:
  ViewControls(AnalysisDocument* document, ViewState* view, QWidget* parent = nullptr);

  QComboBox* stackBox() const { return m_stack; }
  QSpinBox* layerBox() const { return m_layer; }
  QSpinBox* headBox() const { return m_head; }
  QSpinBox* stepBox() const { return m_step; }
  QComboBox* colorMapBox() const { return m_colormap; }
  QComboBox* scaleBox() const { return m_scale; }
  QDoubleSpinBox* gammaBox() const { return m_gamma; }
  QCheckBox* autoRangeBox() const { return m_autoRange; }
  QCheckBox* wordsBox() const { return m_words; }
  QDoubleSpinBox* rangeLoBox() const { return m_rangeLo; }
  QDoubleSpinBox* rangeHiBox() const { return m_rangeHi; }

 signals:
  void statusMessage(const QString& text);

 private:
  void onCapture();
  void showState();
  void onStep();
  void pushAppearance();

  AnalysisDocument* m_doc;
  ViewState* m_view;
  QComboBox* m_stack;
  QSpinBox* m_layer;
  QSpinBox* m_head;
  QSpinBox* m_step;
  QComboBox* m_colormap;
  QComboBox* m_scale;
  QDoubleSpinBox* m_gamma;
  QCheckBox* m_autoRange;
  QCheckBox* m_words;
  QDoubleSpinBox* m_rangeLo;
  QDoubleSpinBox* m_rangeHi;
  QLabel* m_prediction;
};

}  // namespace attnscope
