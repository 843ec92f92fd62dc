#pragma once
// File ▸ Open from Hugging Face cache…: the model snapshots in the local Hugging Face cache with their revision,
// size, model_type and whether AttnScope loads that type; the chosen snapshot folder is opened like any folder.

#include <QDialog>
#include <QString>

class QTreeWidget;
class QLabel;
class QDialogButtonBox;

class HubCacheDialog : public QDialog {
  Q_OBJECT
 public:
  explicit HubCacheDialog(QWidget* parent = nullptr);
  /// The snapshot folder chosen (empty until accepted).
  QString chosenFolder() const { return m_chosen; }
  /// Rows listed (for tests).
  int rowCount() const;

 private:
  void refill();
  void accept() override;
  QTreeWidget* m_tree = nullptr;
  QLabel* m_where = nullptr;
  QDialogButtonBox* m_buttons = nullptr;
  QString m_chosen;
};
