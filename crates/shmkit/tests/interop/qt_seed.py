"""The Qt seed's Send and Load, ported to PySide6 line for line, for shmkit's interop tests.

The C++ seed (a dialog with two buttons) does, with `sharedMemory.setKey("test")`:

  Send:  QBuffer buffer; buffer.open(QBuffer::ReadWrite); QDataStream out(&buffer);
         out << "test sharedMemory"; int size = buffer.size();
         sharedMemory.create(size); sharedMemory.lock();
         memcpy(sharedMemory.data(), buffer.data().data(), qMin(sharedMemory.size(), size));
         sharedMemory.unlock();
  Load:  sharedMemory.attach(QSharedMemory::ReadOnly); QBuffer buffer; QDataStream in(&buffer);
         QByteArray data; sharedMemory.lock();
         buffer.setData((char*)sharedMemory.constData(), sharedMemory.size());
         buffer.open(QBuffer::ReadOnly); in >> data; sharedMemory.unlock();
         sharedMemory.detach(); qDebug() << data;

The only port-level change: PySide6's `out << "..."` writes a QString, so the C++ `const char*`
overload (`writeBytes(s, qstrlen(s) + 1)`: the length, the text, its NUL) is spelled
`out.writeBytes(b"test sharedMemory\\0")`. The dialog stays open after Send (its
QSharedMemory keeps the segment); here it waits for a line on stdin.

  qt_seed.py send [KEY [HEXTEXT]]   Send, print "SENT <size>", wait for stdin to close or "exit"
  qt_seed.py load [KEY]             Load, print "LOADED <hex of data>" (or "ERR ...")
"""
import sys

from PySide6.QtCore import QBuffer, QByteArray, QDataStream, QIODevice, QSharedMemory

key = sys.argv[2] if len(sys.argv) > 2 else "test"
sharedMemory = QSharedMemory()
sharedMemory.setKey(key)


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def send(text):
    buffer = QBuffer()
    buffer.open(QIODevice.ReadWrite)
    out_ = QDataStream(buffer)
    out_.writeBytes(text + b"\0")  # C++: out << "test sharedMemory";
    size = buffer.size()
    if not sharedMemory.create(size):
        out("ERR " + sharedMemory.errorString())
        return
    sharedMemory.lock()
    to = memoryview(sharedMemory.data()).cast("B")
    frm = bytes(buffer.data())
    n = min(sharedMemory.size(), size)
    to[:n] = frm[:n]
    sharedMemory.unlock()
    out("SENT %d" % size)


def load():
    if not sharedMemory.attach(QSharedMemory.AccessMode.ReadOnly):
        out("ERR " + sharedMemory.errorString())
        return
    buffer = QBuffer()
    in_ = QDataStream(buffer)
    data = QByteArray()
    sharedMemory.lock()
    buffer.setData(bytes(memoryview(sharedMemory.constData()).cast("B")[: sharedMemory.size()]))
    buffer.open(QIODevice.ReadOnly)
    in_ >> data
    sharedMemory.unlock()
    sharedMemory.detach()
    out("LOADED " + bytes(data).hex())  # qDebug() << data;


if sys.argv[1] == "send":
    send(bytes.fromhex(sys.argv[3]) if len(sys.argv) > 3 else b"test sharedMemory")
    for line in sys.stdin:
        if line.strip() == "exit":
            break
elif sys.argv[1] == "load":
    load()
