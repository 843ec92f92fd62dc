#pragma once
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QWidget>

#include "AnalysisDocument.h"
#include "RunController.h"

namespace attnscope {

/// The input row: text (and a second segment or target), or an image/audio file with its preview and start
/// offset; the variant; Run, Generate and Cancel. What it shows follows the document's model summary.
class InputPanel : public QWidget {
  Q_OBJECT
 public:
  explicit InputPanel(AnalysisDocument* document, RunController* runner, QWidget* parent = nullptr);

  /// The request for the current input; false (with the reason in \p why) when an input is missing.
  bool makeRequest(RunRequest& request, QString* why) const;
  void setText(const QString& text) { m_text->setText(text); }
  void setFile(const QString& path);
  void setVariant(const QString& spec) { m_variant->setCurrentText(spec); }
  QString variant() const { return m_variant->currentText().trimmed(); }
  /// How runs keep attention: "auto" (probabilities unless too large for memory, then queries and keys computed on
  /// demand), "probs" or "qk".
  void setStore(const QString& store) { m_store = store; }
  QString store() const { return m_store; }
  void setGenerateCount(int count) { m_genCount->setValue(count); }
  /// Whether the current input can be run again as it is (text typed, or the file still there).
  bool inputPresent() const;
  /// Enables the buttons: Run/Generate need a model and an idle engine; Cancel a running job.
  void setEngineState(bool modelLoaded, bool busy);

  QJsonObject saveState() const;
  void restoreState(const QJsonObject& state);

  QLineEdit* textEdit() const { return m_text; }
  /// Image thumbnail, or the audio waveform + spectrogram of the model's window.
  QLabel* preview() const { return m_thumb; }
  QPushButton* generateButton() const { return m_generate; }

 signals:
  void runRequested();
  void generateRequested(int count);
  void cancelRequested();
  /// The audio preview was drawn.
  void previewShown();

 private:
  void onModelChanged();
  void chooseFile();
  void updatePreview();

  AnalysisDocument* m_doc;
  RunController* m_runner;
  QStackedWidget* m_inputs;
  QLineEdit* m_text;
  QLineEdit* m_pair;
  QLineEdit* m_file;
  QPushButton* m_browse;
  QDoubleSpinBox* m_offset;
  QLabel* m_thumb;
  QComboBox* m_variant;
  QString m_store = "auto";
  QPushButton* m_run;
  QSpinBox* m_genCount;
  QPushButton* m_generate;
  QPushButton* m_cancel;
  quint64 m_previewId = 0;
};

}  // namespace attnscope
