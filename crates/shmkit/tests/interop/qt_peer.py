"""A Qt process for shmkit's interop tests: QSharedMemory driven line by line from stdin.

Arguments are hex-encoded UTF-8, so keys with spaces and non-ASCII letters pass through intact.
Every command answers with one line: "OK ..." or "ERR <Qt's error string>".

  create SPEC SIZE      QSharedMemory(key).create(SIZE)
  attach SPEC ro|rw     QSharedMemory(key).attach(mode)
  write OFF HEX         bytes into data() under lock() / unlock()
  rawwrite OFF HEX      bytes into data() without the lock
  read OFF LEN          bytes from data() under the lock       -> OK <hex>
  rawread OFF LEN       bytes from data() without the lock     -> OK <hex>
  size                  size()                                  -> OK <n>
  lock / unlock         lock() / unlock()                      -> OK LOCKED / OK UNLOCKED
  detach                detach()
  keys KEY              the keys Qt derives for a legacy key    -> OK <json>
  exit                  destroy everything (destructors run) and exit 0

SPEC is "legacy:KEY" (QSharedMemory(KEY): System V on Linux), "legacy-posix:KEY"
(legacyNativeKey(KEY, PosixRealtime)) or "native:TEXT" (QNativeIpcKey.fromString(TEXT)); the
part after the colon is hex-encoded.
"""
import json
import sys

from PySide6.QtCore import QNativeIpcKey, QSharedMemory, QSystemSemaphore

shm = None


def unhex(s):
    return bytes.fromhex(s).decode("utf-8")


def make(spec):
    kind, _, arg = spec.partition(":")
    arg = unhex(arg)
    if kind == "legacy":
        return QSharedMemory(arg)
    m = QSharedMemory()
    if kind == "legacy-posix":
        m.setNativeKey(QSharedMemory.legacyNativeKey(arg, QNativeIpcKey.Type.PosixRealtime))
    elif kind == "native":
        k = QNativeIpcKey.fromString(arg)
        if not k.isValid():
            raise ValueError("invalid key string")
        m.setNativeKey(k)
    else:
        raise ValueError("bad spec " + spec)
    return m


def view():
    return memoryview(shm.data()).cast("B")


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def err():
    out("ERR " + shm.errorString())


out("READY")
for raw in sys.stdin:
    cmd = raw.split()
    if not cmd:
        continue
    op, args = cmd[0], cmd[1:]
    try:
        if op == "create":
            shm = make(args[0])
            out("OK created") if shm.create(int(args[1])) else err()
        elif op == "attach":
            shm = make(args[0])
            mode = QSharedMemory.AccessMode.ReadOnly if args[1] == "ro" else QSharedMemory.AccessMode.ReadWrite
            out("OK attached") if shm.attach(mode) else err()
        elif op in ("write", "rawwrite"):
            off, data = int(args[0]), bytes.fromhex(args[1])
            if op == "write" and not shm.lock():
                err()
                continue
            view()[off:off + len(data)] = data
            if op == "write":
                shm.unlock()
            out("OK written")
        elif op in ("read", "rawread"):
            off, n = int(args[0]), int(args[1])
            if op == "read" and not shm.lock():
                err()
                continue
            data = bytes(view()[off:off + n])
            if op == "read":
                shm.unlock()
            out("OK " + data.hex())
        elif op == "size":
            out("OK %d" % shm.size())
        elif op == "lock":
            out("OK LOCKED") if shm.lock() else err()
        elif op == "unlock":
            out("OK UNLOCKED") if shm.unlock() else err()
        elif op == "detach":
            out("OK detached") if shm.detach() else err()
        elif op == "keys":
            k = unhex(args[0])
            out("OK " + json.dumps({
                "legacy": QSharedMemory.legacyNativeKey(k).nativeKey(),
                "legacy_string": QSharedMemory.legacyNativeKey(k).toString(),
                "legacy_posix": QSharedMemory.legacyNativeKey(k, QNativeIpcKey.Type.PosixRealtime).nativeKey(),
                "semaphore": QSystemSemaphore.legacyNativeKey(k).nativeKey(),
                "platform_safe": QSharedMemory.platformSafeKey(k).toString(),
            }))
        elif op == "parse":
            k = QNativeIpcKey.fromString(unhex(args[0]))
            out("OK " + json.dumps({"valid": k.isValid(), "native": k.nativeKey()}))
        elif op == "exit":
            shm = None
            out("OK bye")
            break
        else:
            out("ERR unknown command " + op)
    except Exception as e:  # report, keep serving
        out("ERR %s: %s" % (type(e).__name__, e))
