// Qt's shared-memory tutorial, the showing dialog, with a shmkit cell: woken by each publish.
//   qt_reader [NAME]
#include "dialogs.h"

#include <QApplication>
#include <iostream>

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    const QStringList args = app.arguments();
    try {
        ReaderDialog r(args.size() > 1 ? args[1] : QStringLiteral("QSharedMemoryExample"));
        r.show();
        return app.exec();
    } catch (const shmkit::Error &e) {
        std::cerr << "qt_reader: " << e.what() << std::endl;
        return 1;
    }
}
