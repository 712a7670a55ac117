"""How snapshot frames cross from a training worker to the web process: a socket (the pipe) or shared memory?

Both variants move the same frames from a child process to this one, which reads them on an asyncio loop as
the web process does, and ends holding each frame as ``bytes`` (what a WebSocket send takes):

- ``pipe``: the worker's own wire (``app/worker/wire.py``): header + frame written to a socketpair,
  read with ``wire.read`` from an asyncio stream — what the server does.
- ``shm``: the frame written into a ring of shared-memory slots (``multiprocessing.shared_memory``); only a
  small header (slot, length) crosses the socket; the reader copies the frame out of its slot and hands the
  slot back (a credit over the socket).

For each frame size (the default net's ~47 KB, digits' ~0.1 MB, MNIST-size ~0.9 MB): frames/s, and the CPU
time per frame of the sender and of the reader (the reader's is what the event loop pays), as medians of
interleaved repetitions, with the pipe as the baseline.

    .venv/bin/python benchmarks/bench_ipc.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
from multiprocessing import Process, shared_memory
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.worker import wire  # noqa: E402

SIZES = {"default net (47 KB)": 47_000, "digits (100 KB)": 100_000, "MNIST-size (0.9 MB)": 900_000}
SLOTS = 4


def _send_pipe(fd: int, size: int, n: int) -> None:
    sock = socket.socket(fileno=fd)
    ch = wire.Channel(sock)
    frame = os.urandom(size)
    t = time.process_time()
    for i in range(n):
        ch.send({"t": "frame", "run": "r", "epoch": i, "batch": 0}, frame)
    ch.send({"t": "cpu", "seconds": time.process_time() - t})
    while not any(m.type == "done" for m in ch.receive(None)) and not ch.closed:
        pass  # wait until the reader is done


def _send_shm(fd: int, name: str, size: int, n: int) -> None:
    sock = socket.socket(fileno=fd)
    ch = wire.Channel(sock)
    shm = shared_memory.SharedMemory(name=name)
    frame = os.urandom(size)
    free = list(range(SLOTS))
    t = time.process_time()
    for i in range(n):
        while not free:
            free += [int(m.header["slot"]) for m in ch.receive(None)]
        slot = free.pop()
        shm.buf[slot * size:(slot + 1) * size] = frame
        ch.send({"t": "frame", "run": "r", "epoch": i, "batch": 0, "slot": slot, "n": size})
    ch.send({"t": "cpu", "seconds": time.process_time() - t})
    while not any(m.type == "done" for m in ch.receive(None)) and not ch.closed:
        pass
    shm.close()


async def _read(variant: str, size: int, n: int) -> tuple[float, float, float]:
    """(frames/s, sender CPU s/frame, reader CPU s/frame)."""
    parent, child = socket.socketpair()
    shm = shared_memory.SharedMemory(create=True, size=size * SLOTS) if variant == "shm" else None
    args = (child.fileno(), size, n) if shm is None else (child.fileno(), shm.name, size, n)
    proc = Process(target=_send_pipe if shm is None else _send_shm, args=args)
    proc.start()
    child.close()
    reader, writer = await asyncio.open_connection(sock=parent, limit=2**20)
    got = 0
    t0, c0 = time.perf_counter(), time.process_time()
    sender_cpu = 0.0
    while True:
        msg = await wire.read(reader)
        if msg.type == "cpu":
            sender_cpu = float(msg.header["seconds"])
            break
        if shm is not None:
            slot, length = int(msg.header["slot"]), int(msg.header["n"])
            data = bytes(shm.buf[slot * size:slot * size + length])
            writer.write(wire.pack({"t": "free", "slot": slot}))
        else:
            data = msg.body
        assert len(data) == size
        got += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    writer.write(wire.pack({"t": "done"}))
    await writer.drain()
    proc.join()
    writer.close()
    if shm is not None:
        shm.close()
        shm.unlink()
    return got / wall, sender_cpu / n, cpu / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer frames and repetitions")
    args = parser.parse_args(argv)
    reps = 3 if args.quick else 7
    print(f"frames from a child process to an asyncio reader; median of {reps} interleaved repetitions; "
          f"load {os.getloadavg()[0]:.1f} at the start")
    print(f"{'frame size':<22} {'variant':<6} {'frames/s':>9} {'sender µs/frame':>16} {'reader µs/frame':>16} "
          f"{'reader vs pipe':>15}")
    for label, size in SIZES.items():
        n = max(50, int((20 if args.quick else 60) * 2**20 / size))
        results: dict[str, list[tuple[float, float, float]]] = {"pipe": [], "shm": []}
        for rep in range(reps):
            for variant in (("pipe", "shm") if rep % 2 == 0 else ("shm", "pipe")):
                results[variant].append(asyncio.run(_read(variant, size, n)))
        base = statistics.median(r[2] for r in results["pipe"])
        for variant, rs in results.items():
            fps = statistics.median(r[0] for r in rs)
            snd = statistics.median(r[1] for r in rs)
            rd = statistics.median(r[2] for r in rs)
            print(f"{label:<22} {variant:<6} {fps:>9.0f} {snd * 1e6:>16.1f} {rd * 1e6:>16.1f} {rd / base:>14.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
