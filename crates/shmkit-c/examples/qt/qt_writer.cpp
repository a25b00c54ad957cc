// Qt's shared-memory tutorial, the writing dialog, with a shmkit cell.
//   qt_writer [NAME]          (NAME: "QSharedMemoryExample" by default)
#include "dialogs.h"

#include <QApplication>
#include <iostream>

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    const QStringList args = app.arguments();
    try {
        WriterDialog w(args.size() > 1 ? args[1] : QStringLiteral("QSharedMemoryExample"));
        w.show();
        return app.exec();
    } catch (const shmkit::Error &e) {
        std::cerr << "qt_writer: " << e.what() << std::endl;
        return 1;
    }
}
