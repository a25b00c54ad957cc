// The two dialogs of Qt's shared-memory tutorial, redone with a shmkit cell: a line edit that
// writes, a label that shows. No 200 ms timer: the reader is woken by a notifier (a descriptor
// in Qt's event loop through QSocketNotifier where the platform has one, else a callback from the
// notifier's thread, queued into the GUI thread).
#pragma once

#include <QDialog>
#include <memory>
#include <shmkit.hpp>

class QLabel;
class QLineEdit;
class QPushButton;
class QSocketNotifier;

/// Writes what is typed to the cell NAME (created if missing) when the button is pressed.
class WriterDialog : public QDialog {
    Q_OBJECT
public:
    explicit WriterDialog(const QString &name, QWidget *parent = nullptr);
    QLineEdit *edit() const { return edit_; }
    QPushButton *button() const { return button_; }

signals:
    void published(quint64 seq);

private slots:
    void write();

private:
    shmkit::Cell cell_;
    QLineEdit *edit_;
    QPushButton *button_;
    QLabel *status_;
};

/// Shows the cell NAME's value (created if missing, so that it can be watched from the start)
/// each time a writer publishes.
class ReaderDialog : public QDialog {
    Q_OBJECT
public:
    explicit ReaderDialog(const QString &name, QWidget *parent = nullptr);
    QLabel *label() const { return label_; }
    quint64 seq() const { return seq_; }

signals:
    void shown(quint64 seq);

private slots:
    void refresh();

private:
    shmkit::Cell cell_;
    shmkit::Notifier notifier_;
    QSocketNotifier *socket_ = nullptr;
    QLabel *label_;
    quint64 seq_ = 0;
};
