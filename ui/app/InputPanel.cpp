#include "InputPanel.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QSettings>

#include "Vocabulary.h"

namespace attnscope {

InputPanel::InputPanel(AnalysisDocument* document, RunController* runner, QWidget* parent)
    : QWidget(parent), m_doc(document), m_runner(runner) {
  auto* row = new QHBoxLayout(this);
  row->setContentsMargins(0, 0, 0, 0);
  m_inputs = new QStackedWidget(this);
  auto* textPage = new QWidget(m_inputs);
  auto* textRow = new QHBoxLayout(textPage);
  textRow->setContentsMargins(0, 0, 0, 0);
  m_text = new QLineEdit(textPage);
  m_text->setPlaceholderText(tr("Text to run through the model"));
  m_pair = new QLineEdit(textPage);
  m_pair->setVisible(false);
  textRow->addWidget(m_text, 3);
  textRow->addWidget(m_pair, 2);
  auto* filePage = new QWidget(m_inputs);
  auto* fileRow = new QHBoxLayout(filePage);
  fileRow->setContentsMargins(0, 0, 0, 0);
  m_thumb = new QLabel(filePage);
  m_thumb->setFixedSize(40, 32);
  m_file = new QLineEdit(filePage);
  m_file->setPlaceholderText(tr("Image or audio file (open or drop it here)"));
  m_browse = new QPushButton(tr("Browse…"), filePage);
  m_offset = new QDoubleSpinBox(filePage);
  m_offset->setPrefix(tr("from "));
  m_offset->setSuffix(tr(" s"));
  m_offset->setDecimals(2);
  m_offset->setRange(0, 86400);
  m_offset->setSingleStep(0.1);
  m_offset->setToolTip(tr("Start of the model's window in the audio file"));
  fileRow->addWidget(m_thumb);
  fileRow->addWidget(m_file, 1);
  fileRow->addWidget(m_browse);
  fileRow->addWidget(m_offset);
  m_inputs->addWidget(textPage);
  m_inputs->addWidget(filePage);
  m_variant = new QComboBox(this);
  m_variant->setEditable(true);
  m_variant->addItems(variantPresets());
  m_variant->setToolTip(tr("Attention variant for the run (any spec: see `attnscope-cli compare --help`)"));
  m_variant->setMinimumContentsLength(10);
  m_variant->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  m_run = new QPushButton(tr("Run"), this);
  m_run->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
  m_run->setToolTip(tr("Run the model (Ctrl+Enter)"));
  m_genCount = new QSpinBox(this);
  m_genCount->setRange(1, 1024);
  m_genCount->setValue(20);
  m_genCount->setSuffix(tr(" tokens"));
  m_genCount->setToolTip(tr("How many tokens to generate (greedy)"));
  m_generate = new QPushButton(tr("Generate"), this);
  m_generate->setToolTip(tr("Greedy generation; the attention of every generated step can then be browsed"));
  m_cancel = new QPushButton(tr("Cancel"), this);
  m_cancel->setToolTip(tr("Stop the running job (Esc)"));
  m_genCount->setVisible(false);
  m_generate->setVisible(false);
  row->addWidget(m_inputs, 1);
  row->addWidget(new QLabel(tr("variant"), this));
  row->addWidget(m_variant);
  row->addWidget(m_run);
  row->addWidget(m_genCount);
  row->addWidget(m_generate);
  row->addWidget(m_cancel);
  setEngineState(false, false);

  connect(m_run, &QPushButton::clicked, this, &InputPanel::runRequested);
  connect(m_text, &QLineEdit::returnPressed, this, &InputPanel::runRequested);
  connect(m_pair, &QLineEdit::returnPressed, this, &InputPanel::runRequested);
  connect(m_file, &QLineEdit::returnPressed, this, &InputPanel::runRequested);
  connect(m_cancel, &QPushButton::clicked, this, &InputPanel::cancelRequested);
  connect(m_generate, &QPushButton::clicked, this, [this] { emit generateRequested(m_genCount->value()); });
  connect(m_browse, &QPushButton::clicked, this, &InputPanel::chooseFile);
  connect(m_offset, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &InputPanel::updatePreview);
  connect(m_doc, &AnalysisDocument::modelChanged, this, &InputPanel::onModelChanged);
  connect(m_runner, &RunController::previewReady, this, [this](quint64 id, const QImage& img, double total) {
    if (id != m_previewId) return;  // an older request
    m_thumb->setPixmap(QPixmap::fromImage(img));
    m_thumb->setToolTip(tr("%1: %2 s in all; the preview shows the model's window from %3 s")
                            .arg(QFileInfo(m_file->text()).fileName())
                            .arg(total, 0, 'f', 2)
                            .arg(m_offset->value(), 0, 'f', 2));
    emit previewShown();
  });
  connect(m_runner, &RunController::viewFailed, this, [this](quint64 id, const QString& message) {
    if (id != m_previewId) return;
    m_thumb->setPixmap(QPixmap());
    m_thumb->setToolTip(message);
  });
}

void InputPanel::onModelChanged() {
  if (!m_doc->hasModel()) return;  // a session without its model keeps the inputs as they are
  const ModelSummary& s = m_doc->summary();
  const InputKind kind = inputKind(s);
  m_pair->setVisible(m_doc->acceptsPair());
  // Encoder–decoder text models take a target for the teacher-forced decoder in the second field.
  m_pair->setPlaceholderText(s.encoderDecoder && kind == InputKind::Text
                                 ? tr("Target (decoder, teacher-forced; empty = start token only)")
                                 : tr("Second segment (sentence-pair models)"));
  const bool media = kind != InputKind::Text;
  m_inputs->setCurrentIndex(media ? 1 : 0);
  m_offset->setVisible(kind == InputKind::Audio);
  m_thumb->setVisible(media);
  m_thumb->setFixedSize(kind == InputKind::Audio ? QSize(160, 36) : QSize(40, 32));
  m_genCount->setVisible(s.canGenerate);
  m_generate->setVisible(s.canGenerate);
  updatePreview();
}

void InputPanel::setEngineState(bool modelLoaded, bool busy) {
  m_run->setEnabled(modelLoaded && !busy);
  m_generate->setEnabled(modelLoaded && !busy);
  m_cancel->setEnabled(busy);
}

void InputPanel::setFile(const QString& path) {
  m_file->setText(path);
  if (inputKind(m_doc->summary()) == InputKind::Audio) {
    updatePreview();
    return;
  }
  QPixmap thumb(path);
  m_thumb->setPixmap(thumb.isNull() ? QPixmap()
                                    : thumb.scaled(m_thumb->size(), Qt::KeepAspectRatio, Qt::SmoothTransformation));
}

void InputPanel::updatePreview() {
  if (inputKind(m_doc->summary()) != InputKind::Audio || m_file->text().isEmpty()) return;
  // The model's window (Whisper 30 s, KWT 1 s); 10 s when the model does not say.
  const double seconds = m_doc->summary().windowSeconds > 0 ? m_doc->summary().windowSeconds : 10.0;
  m_previewId = m_runner->preview(m_file->text(), m_offset->value(), seconds, m_thumb->width(), m_thumb->height());
}

void InputPanel::chooseFile() {
  const InputKind kind = inputKind(m_doc->summary());
  const QString key = kind == InputKind::Image ? "input/lastImageDir" : "input/lastAudioDir";
  const QString path = QFileDialog::getOpenFileName(
      this, kind == InputKind::Image ? tr("Open an image") : tr("Open an audio file"),
      QSettings().value(key).toString(), fileFilter(kind));
  if (path.isEmpty()) return;
  QSettings().setValue(key, QFileInfo(path).absolutePath());
  setFile(path);
}

bool InputPanel::inputPresent() const {
  return inputKind(m_doc->summary()) == InputKind::Text ? !m_text->text().isEmpty()
                                                         : QFileInfo(m_file->text()).isFile();
}

bool InputPanel::makeRequest(RunRequest& r, QString* why) const {
  r = RunRequest();
  r.variant = variant().toStdString();
  r.store = m_store.toStdString();
  const InputKind kind = inputKind(m_doc->summary());
  if (kind == InputKind::Text) {
    r.text = m_text->text().toStdString();
    r.pair = m_pair->text().toStdString();
    r.hasPair = m_doc->acceptsPair() && !m_pair->text().isEmpty();
    return true;
  }
  if (m_file->text().isEmpty()) {
    if (why) *why = tr("Choose an %1 file first (Browse… or drop it on the window).").arg(inputKindName(kind));
    return false;
  }
  (kind == InputKind::Image ? r.imagePath : r.audioPath) = m_file->text().toStdString();
  r.offsetSeconds = m_offset->value();
  return true;
}

QJsonObject InputPanel::saveState() const {
  return {{"text", m_text->text()}, {"pair", m_pair->text()}, {"file", m_file->text()}, {"offset", m_offset->value()}};
}

void InputPanel::restoreState(const QJsonObject& input) {
  m_text->setText(input.value("text").toString());
  m_pair->setText(input.value("pair").toString());
  m_offset->setValue(input.value("offset").toDouble());
  if (!input.value("file").toString().isEmpty()) setFile(input.value("file").toString());
}

}  // namespace attnscope
