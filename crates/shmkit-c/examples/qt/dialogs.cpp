#include "dialogs.h"

#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QMetaObject>
#include <QPushButton>
#include <QSocketNotifier>
#include <QVBoxLayout>

namespace {
constexpr std::size_t kCapacity = 4096;
}

WriterDialog::WriterDialog(const QString &name, QWidget *parent)
    : QDialog(parent),
      cell_(shmkit::Cell::open_or_create(name.toStdString(), kCapacity)),
      edit_(new QLineEdit(this)),
      button_(new QPushButton(tr("Write to shared memory"), this)),
      status_(new QLabel(tr("Type a text and press the button."), this)) {
    setWindowTitle(tr("shmkit writer: %1").arg(name));
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(edit_);
    layout->addWidget(button_);
    layout->addWidget(status_);
    // Enter in the line edit writes once: not also through the dialog's default button.
    button_->setAutoDefault(false);
    connect(button_, &QPushButton::clicked, this, &WriterDialog::write);
    connect(edit_, &QLineEdit::returnPressed, this, &WriterDialog::write);
}

void WriterDialog::write() {
    const QByteArray utf8 = edit_->text().toUtf8();
    try {
        quint64 seq = cell_.publish(utf8.constData(), std::size_t(utf8.size()));
        status_->setText(tr("Published value #%1.").arg(seq));
        emit published(seq);
    } catch (const shmkit::Error &e) {
        status_->setText(QString::fromUtf8(e.what()));
    }
}

ReaderDialog::ReaderDialog(const QString &name, QWidget *parent)
    : QDialog(parent),
      cell_(shmkit::Cell::open_or_create(name.toStdString(), kCapacity)),
      label_(new QLabel(tr("(nothing written yet)"), this)) {
    setWindowTitle(tr("shmkit reader: %1").arg(name));
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(label_);
    try {
        // A descriptor Qt's event loop watches (Linux, macOS)...
        notifier_ = shmkit::Notifier::watch(cell_);
        socket_ = new QSocketNotifier(notifier_.fd(), QSocketNotifier::Read, this);
        connect(socket_, &QSocketNotifier::activated, this, &ReaderDialog::refresh);
    } catch (const shmkit::Error &e) {
        if (e.status() != SHMKIT_UNSUPPORTED) {
            throw;
        }
        // ...or, where there is none (Windows), a callback on the notifier's thread that queues
        // the refresh into this dialog's thread.
        notifier_ = shmkit::Notifier::watch(cell_, [this] {
            QMetaObject::invokeMethod(this, &ReaderDialog::refresh, Qt::QueuedConnection);
        });
    }
    refresh();
}

void ReaderDialog::refresh() {
    if (socket_) {
        notifier_.clear(); // first: a publish from now on raises it again
    }
    try {
        shmkit::Value v = cell_.read();
        if (v.seq == seq_) {
            return;
        }
        seq_ = v.seq;
        label_->setText(QString::fromUtf8(v.text().data(), int(v.text().size())));
        emit shown(seq_);
    } catch (const shmkit::Error &e) {
        label_->setText(QString::fromUtf8(e.what()));
    }
}
