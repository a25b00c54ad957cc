#include "viewer.h"

#include <QMetaObject>
#include <QPainter>
#include <QSocketNotifier>

namespace {
QImage::Format qt_format(shmkit_pixel p) {
    switch (p) {
    case SHMKIT_PIXEL_GRAY8: return QImage::Format_Grayscale8;
    case SHMKIT_PIXEL_GRAY16LE: return QImage::Format_Grayscale16;
    case SHMKIT_PIXEL_RGB8: return QImage::Format_RGB888;
    case SHMKIT_PIXEL_BGR8: return QImage::Format_BGR888;
    case SHMKIT_PIXEL_RGBA8: return QImage::Format_RGBA8888;
    case SHMKIT_PIXEL_BGRA8: return QImage::Format_ARGB32; // B, G, R, A in memory (little-endian)
    default: return QImage::Format_Invalid;
    }
}
} // namespace

FrameViewer::FrameViewer(const QString &name, QWidget *parent) : QWidget(parent), name_(name) {
    setWindowTitle(tr("shmkit viewer: %1").arg(name));
    resize(640, 360);
    // A name's appearance has no event to sleep on: while the stream does not exist (and only
    // then) look again every 100 ms. Frames themselves wake the notifier.
    retry_.setInterval(100);
    connect(&retry_, &QTimer::timeout, this, &FrameViewer::tryOpen);
    tryOpen();
}

void FrameViewer::showStatus(const QString &s) {
    status_ = s;
    setWindowTitle(s);
    update();
}

void FrameViewer::tryOpen() {
    try {
        sub_ = shmkit::Subscriber::open(name_.toStdString());
    } catch (const shmkit::Error &e) {
        if (e.status() == SHMKIT_NOT_FOUND) {
            showStatus(tr("waiting for the stream %1...").arg(name_));
            retry_.start();
            return;
        }
        retry_.stop();
        showStatus(QString::fromUtf8(e.what()));
        return;
    }
    retry_.stop();
    shm_format_ = sub_.format();
    format_ = shm_format_.is_image() ? qt_format(shm_format_.pixel) : QImage::Format_Invalid;
    if (format_ == QImage::Format_Invalid) {
        showStatus(tr("%1 carries %2, not raw images")
                       .arg(name_, shm_format_.text.empty() ? tr("no format") : QString::fromStdString(shm_format_.text)));
        return;
    }
    try {
        notifier_ = shmkit::Notifier::watch(sub_);
        socket_ = new QSocketNotifier(notifier_.fd(), QSocketNotifier::Read, this);
        connect(socket_, &QSocketNotifier::activated, this, &FrameViewer::onChange);
    } catch (const shmkit::Error &e) {
        if (e.status() != SHMKIT_UNSUPPORTED) {
            throw;
        }
        notifier_ = shmkit::Notifier::watch(sub_, [this] {
            QMetaObject::invokeMethod(this, &FrameViewer::onChange, Qt::QueuedConnection);
        });
    }
    showStatus(tr("%1: %2, waiting for a frame").arg(name_, QString::fromStdString(shm_format_.text)));
    onChange(); // a frame may be there already
}

void FrameViewer::onChange() {
    if (socket_) {
        notifier_.clear();
    }
    try {
        sub_.seek_newest(); // a viewer shows the newest picture, not a backlog
        for (;;) {
            std::optional<shmkit::FrameView> v = sub_.try_recv_view();
            if (!v) {
                break;
            }
            if (v->size() < shm_format_.frame_len) {
                continue;
            }
            // The frame where it lies in the ring, as a QImage (no copy), then one copy into the
            // picture shown; kept only if the publisher did not overwrite it meanwhile.
            QImage in_ring(v->data(), int(shm_format_.width), int(shm_format_.height),
                           qsizetype(shm_format_.stride), format_);
            QImage copy = in_ring.copy();
            quint64 seq = v->received().seq;
            if (!v->release()) {
                torn_++;
                continue;
            }
            image_ = std::move(copy);
            seq_ = seq;
            frames_++;
            status_ = tr("%1: %2, frame #%3, %4 lost, %5 torn")
                          .arg(name_, QString::fromStdString(shm_format_.text))
                          .arg(seq)
                          .arg(sub_.lost())
                          .arg(torn_);
            setWindowTitle(status_);
            update();
            emit frameShown(seq);
        }
    } catch (const shmkit::Error &e) {
        showStatus(QString::fromUtf8(e.what()));
    }
}

void FrameViewer::paintEvent(QPaintEvent *) {
    QPainter p(this);
    p.fillRect(rect(), Qt::black);
    if (!image_.isNull()) {
        QImage scaled = image_.size() == size() ? image_ : image_.scaled(size(), Qt::KeepAspectRatio);
        p.drawImage((width() - scaled.width()) / 2, (height() - scaled.height()) / 2, scaled);
    }
    if (image_.isNull()) {
        p.setPen(Qt::white);
        p.drawText(rect(), Qt::AlignCenter, status_);
    }
}
