// The Qt examples, driven headless (QT_QPA_PLATFORM=offscreen) through their real widgets:
// - a value typed into the writer dialog and sent with its button reaches the reader dialog
//   (woken by the notifier, no timer), in one process and from the C writer in another;
// - the frame viewer shows a known picture published to a stream: the window's grabbed pixels
//   are checked, and the image it holds is compared byte for byte;
// - it shows the C++ frames_pub's frames from another process, each checked against the pattern.
//
//   qt_tests EXAMPLES_DIR      (where the C `writer` and C++ `frames_pub` are)
#include "dialogs.h"
#include "viewer.h"

#include <QApplication>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QTest>
#include <cstdio>
#include <unistd.h>

static int failures = 0, checks = 0;
#define EXPECT(cond)                                                                   \
    do {                                                                               \
        checks++;                                                                      \
        if (!(cond)) {                                                                 \
            failures++;                                                                \
            std::fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                              \
    } while (0)

static QString unique(const char *what) {
    return QStringLiteral("t-qt-%1-%2").arg(what).arg(getpid());
}

static void dialogs_in_one_process() {
    const QString name = unique("dialogs");
    WriterDialog w(name);
    ReaderDialog r(name);
    w.show();
    r.show();
    EXPECT(QTest::qWaitForWindowExposed(&r));
    QTest::keyClicks(w.edit(), QStringLiteral("hello from the writer dialog"));
    QTest::mouseClick(w.button(), Qt::LeftButton);
    EXPECT(QTest::qWaitFor([&] { return r.label()->text() == "hello from the writer dialog"; }, 5000));
    // A shorter value: no stale tail of the longer one.
    w.edit()->clear();
    QTest::keyClicks(w.edit(), QStringLiteral("bye"));
    QTest::keyClick(w.edit(), Qt::Key_Return);
    EXPECT(QTest::qWaitFor([&] { return r.label()->text() == "bye"; }, 5000));
    EXPECT(r.seq() == 2);
}

static void dialog_fed_by_the_c_writer(const QString &dir) {
    const QString name = unique("cwriter");
    ReaderDialog r(name);
    r.show();
    QProcess writer;
    writer.start(dir + "/writer", {name, QStringLiteral("from the C writer process")});
    EXPECT(writer.waitForStarted(5000));
    EXPECT(QTest::qWaitFor([&] { return r.label()->text() == "from the C writer process"; }, 10000));
    writer.write("and a second line\n");
    EXPECT(QTest::qWaitFor([&] { return r.label()->text() == "and a second line"; }, 10000));
    writer.closeWriteChannel(); // end of input: the writer quits
    EXPECT(writer.waitForFinished(10000) && writer.exitCode() == 0);
}

static QImage quadrants(int w, int h) {
    QImage img(w, h, QImage::Format_RGBA8888);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            QColor c = y < h / 2 ? (x < w / 2 ? Qt::red : Qt::green) : (x < w / 2 ? Qt::blue : Qt::white);
            img.setPixelColor(x, y, c);
        }
    }
    return img;
}

static void viewer_shows_a_known_picture() {
    const QString name = unique("viewer");
    const int w = 64, h = 48;
    shmkit::StreamOptions o;
    o.format = "rgba8:64x48";
    auto pub = shmkit::Publisher::create(name.toStdString(), o);
    FrameViewer v(name);
    v.setFixedSize(w, h);
    v.show();
    EXPECT(QTest::qWaitForWindowExposed(&v));
    QImage picture = quadrants(w, h);
    pub.send(picture.constBits(), std::size_t(picture.sizeInBytes()));
    EXPECT(QTest::qWaitFor([&] { return v.frames() == 1; }, 5000));
    // The image held is the picture, byte for byte...
    EXPECT(v.image().size() == picture.size());
    EXPECT(v.image().convertToFormat(QImage::Format_RGBA8888) == picture);
    // ...and the window shows it: its grabbed pixels.
    QImage shown = v.grab().toImage();
    EXPECT(shown.pixelColor(w / 4, h / 4) == QColor(Qt::red));
    EXPECT(shown.pixelColor(3 * w / 4, h / 4) == QColor(Qt::green));
    EXPECT(shown.pixelColor(w / 4, 3 * h / 4) == QColor(Qt::blue));
    EXPECT(shown.pixelColor(3 * w / 4, 3 * h / 4) == QColor(Qt::white));
    // A second picture replaces it (woken again, no timer).
    QImage inverted = picture;
    inverted.invertPixels(QImage::InvertRgb);
    pub.send(inverted.constBits(), std::size_t(inverted.sizeInBytes()));
    EXPECT(QTest::qWaitFor([&] { return v.frames() == 2; }, 5000));
    EXPECT(v.grab().toImage().pixelColor(w / 4, h / 4) == QColor(Qt::cyan));
}

static void viewer_shows_frames_pub_from_another_process(const QString &dir) {
    const QString name = unique("frames");
    QProcess pub;
    pub.start(dir + "/frames_pub", {name, "--size", "96x64", "--frames", "2000", "--fps", "100"});
    EXPECT(pub.waitForStarted(5000));
    FrameViewer v(name); // waits for the stream to appear
    v.show();
    EXPECT(QTest::qWaitFor([&] { return v.frames() >= 3; }, 15000));
    QImage img = v.image().convertToFormat(QImage::Format_RGBA8888);
    EXPECT(img.width() == 96 && img.height() == 64);
    const int k = img.isNull() ? 0 : qRed(img.pixel(0, 0));
    bool pattern = !img.isNull();
    for (int y = 0; pattern && y < img.height(); y++) {
        const uchar *p = img.constScanLine(y);
        for (int x = 0; pattern && x < img.width(); x++, p += 4) {
            pattern = p[0] == uchar(x + k) && p[1] == uchar(y + 2 * k) && p[2] == uchar(3 * k) && p[3] == 255;
        }
    }
    EXPECT(pattern);
    pub.kill();
    pub.waitForFinished(5000);
}

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    const QString dir = argc > 1 ? QString::fromLocal8Bit(argv[1]) : QStringLiteral(".");
    try {
        dialogs_in_one_process();
        dialog_fed_by_the_c_writer(dir);
        viewer_shows_a_known_picture();
        viewer_shows_frames_pub_from_another_process(dir);
    } catch (const shmkit::Error &e) {
        failures++;
        std::fprintf(stderr, "shmkit error: %s\n", e.what());
    }
    std::printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
