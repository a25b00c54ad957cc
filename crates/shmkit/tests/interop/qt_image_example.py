"""Qt's own shared-memory example (the "loadFromFile" / "loadFromMemory" dialog), ported to
PySide6 line for line, for shmkit's interop tests; the label that shows the picture is replaced
by saving it and printing a hash of its pixels.

The C++ example, with `QSharedMemory sharedMemory("QSharedMemoryExample")`:

  loadFromFile:   QImage image; image.load(fileName);
                  QBuffer buffer; buffer.open(QBuffer::ReadWrite); QDataStream out(&buffer);
                  out << image; int size = buffer.size();
                  sharedMemory.create(size); sharedMemory.lock();
                  memcpy(sharedMemory.data(), buffer.data().data(), qMin(sharedMemory.size(), size));
                  sharedMemory.unlock();
  loadFromMemory: sharedMemory.attach(); QBuffer buffer; QDataStream in(&buffer); QImage image;
                  sharedMemory.lock();
                  buffer.setData((char*)sharedMemory.constData(), sharedMemory.size());
                  buffer.open(QBuffer::ReadOnly); in >> image; sharedMemory.unlock();
                  sharedMemory.detach(); ui.label->setPixmap(QPixmap::fromImage(image));

  qt_image_example.py file KEY PNG      loadFromFile; print "SENT <size>"; wait for "exit"
  qt_image_example.py memory KEY OUT    loadFromMemory; save the image to OUT; print
                                        "LOADED <w>x<h> <pixels sha1>" (or "NULL", "ERR ...")
  qt_image_example.py make PNG W H      write a test picture (a gradient with alpha)
  qt_image_example.py pixels PNG        print "<w>x<h> <pixels sha1>" of a file as Qt loads it
"""
import hashlib
import sys

from PySide6.QtCore import QBuffer, QDataStream, QIODevice, QSharedMemory
from PySide6.QtGui import QImage


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pixels(image):
    argb = image.convertToFormat(QImage.Format.Format_ARGB32)
    bits = bytes(argb.constBits())[: argb.sizeInBytes()]
    return "%dx%d %s" % (image.width(), image.height(), hashlib.sha1(bits).hexdigest())


op = sys.argv[1]
if op in ("file", "memory"):
    sharedMemory = QSharedMemory(sys.argv[2])

if op == "file":
    image = QImage()
    if not image.load(sys.argv[3]):
        out("ERR cannot load " + sys.argv[3])
        sys.exit(1)
    buffer = QBuffer()
    buffer.open(QIODevice.ReadWrite)
    out_ = QDataStream(buffer)
    out_ << image
    size = buffer.size()
    if not sharedMemory.create(size):
        out("ERR " + sharedMemory.errorString())
        sys.exit(1)
    sharedMemory.lock()
    to = memoryview(sharedMemory.data()).cast("B")
    frm = bytes(buffer.data())
    n = min(sharedMemory.size(), size)
    to[:n] = frm[:n]
    sharedMemory.unlock()
    out("SENT %d" % size)
    for line in sys.stdin:
        if line.strip() == "exit":
            break
elif op == "memory":
    if not sharedMemory.attach():
        out("ERR " + sharedMemory.errorString())
        sys.exit(1)
    buffer = QBuffer()
    in_ = QDataStream(buffer)
    image = QImage()
    sharedMemory.lock()
    buffer.setData(bytes(memoryview(sharedMemory.constData()).cast("B")[: sharedMemory.size()]))
    buffer.open(QIODevice.ReadOnly)
    in_ >> image
    sharedMemory.unlock()
    sharedMemory.detach()
    if image.isNull():
        out("NULL")
    else:
        image.save(sys.argv[3], "PNG")
        out("LOADED " + pixels(image))
elif op == "make":
    w, h = int(sys.argv[3]), int(sys.argv[4])
    # ARGB32 in memory is B, G, R, A bytes (little-endian 0xAARRGGBB).
    data = bytes(
        v
        for y in range(h)
        for x in range(w)
        for v in ((x * y) % 256, y * 255 // max(h - 1, 1), x * 255 // max(w - 1, 1), 128 + (x + y) % 128)
    )
    image = QImage(data, w, h, 4 * w, QImage.Format.Format_ARGB32).copy()
    image.save(sys.argv[2], "PNG")
    out("MADE " + pixels(image))
elif op == "pixels":
    image = QImage()
    out(pixels(image) if image.load(sys.argv[2]) else "ERR cannot load " + sys.argv[2])
