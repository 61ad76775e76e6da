"""Hold every packet of a netfilter queue for a fixed time, then let it through.

Latency on a link for kernels built without ``sch_netem``: an iptables rule
sends the link's packets to NFQUEUE ``--queue-num Q``; this process (run inside
the same network namespace) receives each packet's id over netlink and accepts
it ``--delay-ms`` later, in arrival order. Pure Python (raw netlink sockets), so
it needs no C library. Prints ``ready`` once bound.

    python nfq_delay.py --queue 7 --delay-ms 40
"""

from __future__ import annotations

import argparse
import collections
import select
import socket
import struct
import sys
import time
from collections.abc import Iterator

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET, MSG_VERDICT, MSG_CONFIG = (NFNL_SUBSYS_QUEUE << 8) | 0, (NFNL_SUBSYS_QUEUE << 8) | 1, (NFNL_SUBSYS_QUEUE << 8) | 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
CFG_CMD, CFG_PARAMS = 1, 2
CMD_BIND = 1
COPY_META = 1
PACKET_HDR, VERDICT_HDR = 1, 2
NF_ACCEPT = 1


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def _message(kind: int, flags: int, queue: int, attrs: bytes, seq: int = 0) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def _messages(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (type, payload) for each netlink message in ``buf``."""
    offset = 0
    while offset + 16 <= len(buf):
        length, kind = struct.unpack_from("=IH", buf, offset)
        if length < 16:
            return
        yield kind, buf[offset + 16 : offset + length]
        offset += (length + 3) & ~3


def _packet_id(payload: bytes) -> int | None:
    offset = 4  # nfgenmsg
    while offset + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, offset)
        if length < 4:
            return None
        if kind & 0x7FFF == PACKET_HDR:
            return struct.unpack_from("!I", payload, offset + 4)[0]
        offset += (length + 3) & ~3
    return None


def bind(queue: int) -> socket.socket:
    """Open a netlink socket bound to ``queue``, copying packet metadata only."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    cmd = _attr(CFG_CMD, struct.pack("!BxH", CMD_BIND, socket.AF_INET))
    params = _attr(CFG_PARAMS, struct.pack("!IB", 0, COPY_META))
    for seq, attrs in enumerate((cmd, params), start=1):
        sock.send(_message(MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, queue, attrs, seq))
        for kind, payload in _messages(sock.recv(65536)):
            if kind == NLMSG_ERROR and struct.unpack_from("=i", payload)[0] != 0:
                raise OSError(-struct.unpack_from("=i", payload)[0], "nfqueue config refused")
    return sock


def serve(sock: socket.socket, queue: int, delay_s: float) -> None:
    """Accept each queued packet ``delay_s`` after it arrived, forever."""
    held: collections.deque[tuple[float, int]] = collections.deque()
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            for kind, payload in _messages(sock.recv(1 << 20)):
                packet = _packet_id(payload) if kind == MSG_PACKET else None
                if packet is not None:
                    held.append((time.monotonic() + delay_s, packet))
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, packet = held.popleft()
            verdict = _attr(VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet))
            sock.send(_message(MSG_VERDICT, NLM_F_REQUEST, queue, verdict))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args(argv)
    sock = bind(args.queue)
    print("ready", flush=True)
    serve(sock, args.queue, args.delay_ms / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
