// A window that shows a stream's frames as a live QImage, taken from the ring: each new frame is
// read in place (a view into shared memory) and copied once into the image shown. Woken by a
// notifier, it shows the newest frame and skips a backlog; the size and pixel layout come from
// the format the publisher recorded (frames_pub: "rgba8:1920x1080").
#pragma once

#include <QImage>
#include <QTimer>
#include <QWidget>
#include <shmkit.hpp>

class QSocketNotifier;

class FrameViewer : public QWidget {
    Q_OBJECT
public:
    explicit FrameViewer(const QString &name, QWidget *parent = nullptr);
    /// The picture shown (null before the first frame).
    const QImage &image() const { return image_; }
    quint64 frames() const { return frames_; }
    quint64 seq() const { return seq_; }
    QString status() const { return status_; }

signals:
    void frameShown(quint64 seq);

protected:
    void paintEvent(QPaintEvent *) override;

private slots:
    void tryOpen();
    void onChange();

private:
    void showStatus(const QString &s);

    QString name_;
    shmkit::Subscriber sub_;
    shmkit::Notifier notifier_;
    QSocketNotifier *socket_ = nullptr;
    QTimer retry_;
    QImage::Format format_ = QImage::Format_Invalid;
    shmkit::Format shm_format_;
    QImage image_;
    quint64 frames_ = 0, seq_ = 0, torn_ = 0;
    QString status_;
};
