// Shows a stream's frames live (frames_pub's, the Rust or the C++ one).
//   qt_viewer [NAME] [--grab FILE]
// --grab FILE: once a frame is shown, saves the window's pixels to FILE and quits (for tests).
#include "viewer.h"

#include <QApplication>
#include <QTimer>
#include <iostream>

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    QStringList args = app.arguments();
    args.removeFirst();
    QString grab;
    int i = int(args.indexOf(QStringLiteral("--grab")));
    if (i >= 0 && i + 1 < args.size()) {
        grab = args[i + 1];
        args.remove(i, 2);
    }
    try {
        FrameViewer v(args.isEmpty() ? QStringLiteral("frames") : args[0]);
        v.show();
        if (!grab.isEmpty()) {
            QObject::connect(&v, &FrameViewer::frameShown, &v, [&] {
                // The next turn of the event loop has painted the frame.
                QTimer::singleShot(0, &v, [&] {
                    bool ok = v.grab().save(grab);
                    std::cout << "qt_viewer: frame #" << v.seq() << " " << v.image().width() << "x"
                              << v.image().height() << (ok ? " saved" : " NOT saved") << std::endl;
                    app.exit(ok ? 0 : 1);
                });
            });
        }
        return app.exec();
    } catch (const shmkit::Error &e) {
        std::cerr << "qt_viewer: " << e.what() << std::endl;
        return 1;
    }
}
