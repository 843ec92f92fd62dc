#include "HubCacheDialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "attnscope/EngineSession.h"
#include "attnscope/HubCache.h"

namespace {
QString humanBytes(uint64_t n) {
  const double b = static_cast<double>(n);
  if (b >= 1e9) return QString::number(b / 1e9, 'f', 2) + " GB";
  if (b >= 1e6) return QString::number(b / 1e6, 'f', 1) + " MB";
  if (b >= 1e3) return QString::number(b / 1e3, 'f', 0) + " kB";
  return QString::number(n) + " B";
}
}  // namespace

HubCacheDialog::HubCacheDialog(QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Open from Hugging Face cache"));
  auto* layout = new QVBoxLayout(this);
  m_where = new QLabel(this);
  m_where->setWordWrap(true);
  m_where->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(m_where);
  m_tree = new QTreeWidget(this);
  m_tree->setColumnCount(5);
  m_tree->setHeaderLabels({tr("Model"), tr("Revision"), tr("Type"), tr("Size"), tr("Supported")});
  m_tree->setRootIsDecorated(false);
  m_tree->setAlternatingRowColors(true);
  m_tree->header()->setSectionResizeMode(0, QHeaderView::Stretch);
  layout->addWidget(m_tree, 1);
  m_buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, this);
  layout->addWidget(m_buttons);
  connect(m_buttons, &QDialogButtonBox::accepted, this, &HubCacheDialog::accept);
  connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(m_tree, &QTreeWidget::itemDoubleClicked, this, [this] { accept(); });
  connect(m_tree, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item) {
    m_buttons->button(QDialogButtonBox::Open)->setEnabled(item && item->data(4, Qt::UserRole).toBool());
  });
  resize(760, 420);
  refill();
}

int HubCacheDialog::rowCount() const { return m_tree->topLevelItemCount(); }

void HubCacheDialog::refill() {
  m_tree->clear();
  QStringList folders;
  for (const auto& f : attnscope::hubCacheFolders()) folders << QString::fromStdString(f);
  m_where->setText(tr("Models already downloaded to the local cache (nothing is downloaded). Searched: %1")
                       .arg(folders.isEmpty() ? tr("no cache folder is set") : folders.join(", ")));
  for (const auto& m : attnscope::listCachedModels(attnscope::supportedModelTypes())) {
    auto* item = new QTreeWidgetItem(m_tree);
    item->setText(0, QString::fromStdString(m.id));
    item->setText(1, m.revision.empty() ? QString::fromStdString(m.commit.substr(0, 10))
                                        : QString::fromStdString(m.revision));
    item->setToolTip(1, QString::fromStdString(m.commit));
    item->setText(2, m.modelType.empty() ? tr("(no config.json)") : QString::fromStdString(m.modelType));
    item->setText(3, humanBytes(m.bytes));
    item->setTextAlignment(3, Qt::AlignRight | Qt::AlignVCenter);
    item->setText(4, m.supported ? tr("yes") : tr("no"));
    item->setData(4, Qt::UserRole, m.supported);
    item->setData(0, Qt::UserRole, QString::fromStdString(m.path));
    item->setToolTip(0, QString::fromStdString(m.path));
    if (!m.supported)
      for (int c = 0; c < 5; ++c) item->setForeground(c, palette().color(QPalette::Disabled, QPalette::Text));
  }
  if (m_tree->topLevelItemCount() == 0) {
    auto* item = new QTreeWidgetItem(m_tree);
    item->setText(0, tr("(no models in the cache)"));
    item->setFlags(Qt::NoItemFlags);
  }
  m_buttons->button(QDialogButtonBox::Open)->setEnabled(false);
}

void HubCacheDialog::accept() {
  QTreeWidgetItem* item = m_tree->currentItem();
  if (!item || !item->data(4, Qt::UserRole).toBool()) return;
  m_chosen = item->data(0, Qt::UserRole).toString();
  QDialog::accept();
}
