"""A Python process for shmkit's interop tests: multiprocessing.shared_memory driven from stdin.

  create NAME SIZE        SharedMemory(NAME, create=True, size=SIZE)   -> OK <name> <size>
  createrandom SIZE       SharedMemory(create=True, size=SIZE)         -> OK <name> <size>
  attach NAME             attach, then unregister from the resource tracker (the workaround
                          for Python <= 3.12; track=False on 3.13+)     -> OK <name> <size>
  attach-tracked NAME     attach with Python's defaults: the tracker unlinks NAME at exit
  write OFF HEX / read OFF LEN
  close / unlink / exit

NAME is hex-encoded UTF-8. Answers are one line: "OK ..." or "ERR ...".
"""
import sys
from multiprocessing import resource_tracker, shared_memory

shm = None


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def attach_untracked(name):
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    m = shared_memory.SharedMemory(name=name)
    resource_tracker.unregister(m._name, "shared_memory")
    return m


out("READY")
for raw in sys.stdin:
    cmd = raw.split()
    if not cmd:
        continue
    op, args = cmd[0], cmd[1:]
    try:
        if op == "create":
            shm = shared_memory.SharedMemory(name=bytes.fromhex(args[0]).decode(), create=True, size=int(args[1]))
            out("OK %s %d" % (shm.name, shm.size))
        elif op == "createrandom":
            shm = shared_memory.SharedMemory(create=True, size=int(args[0]))
            out("OK %s %d" % (shm.name, shm.size))
        elif op == "attach":
            shm = attach_untracked(bytes.fromhex(args[0]).decode())
            out("OK %s %d" % (shm.name, shm.size))
        elif op == "attach-tracked":
            shm = shared_memory.SharedMemory(name=bytes.fromhex(args[0]).decode())
            out("OK %s %d" % (shm.name, shm.size))
        elif op == "write":
            off, data = int(args[0]), bytes.fromhex(args[1])
            shm.buf[off:off + len(data)] = data
            out("OK written")
        elif op == "read":
            off, n = int(args[0]), int(args[1])
            out("OK " + bytes(shm.buf[off:off + n]).hex())
        elif op == "close":
            shm.close()
            out("OK closed")
        elif op == "unlink":
            shm.unlink()
            out("OK unlinked")
        elif op == "exit":
            out("OK bye")
            break
        else:
            out("ERR unknown command " + op)
    except Exception as e:
        out("ERR %s: %s" % (type(e).__name__, e))
