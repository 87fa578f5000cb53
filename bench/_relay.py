"""A byte-for-byte relay in front of the fake backend: the scale for ``chat_bench.py``.

    .venv/bin/python bench/_relay.py PORT UPSTREAM_PORT

Each client connection gets its own upstream connection; requests (``Content-Length``
bodies) go up unchanged and responses come back unchanged, piece by piece as they are
read. It parses nothing but the framing it needs, stores nothing and checks nothing, so
what ``chat_bench.py`` measures through it is what any relay costs on this machine (two
more socket hops per piece, one more process sharing the CPUs), and how much the
measurement itself moves between runs. It knows one upstream: the fake, whose chunked
responses end with the zero-size chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys

_END = b"0\r\n\r\n"


def _length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    return int(lower[at + 17 : lower.index(b"\r\n", at + 2)]) if at >= 0 else 0


async def _relay(
    upstream_port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port, limit=1 << 22)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            up_writer.write(head + await reader.readexactly(_length(head)))
            answer = await up_reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            if b"transfer-encoding: chunked" in answer.lower():
                data = b""
                while not data.endswith(_END):
                    data = await up_reader.read(1 << 16)
                    if not data:
                        return
                    writer.write(data)
            else:
                writer.write(await up_reader.readexactly(_length(answer)))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        up_writer.close()


async def main(port: int, upstream_port: int) -> None:
    relay = functools.partial(_relay, upstream_port)
    server = await asyncio.start_server(relay, "127.0.0.1", port, limit=1 << 22)
    print(f"relay: 127.0.0.1:{port} -> 127.0.0.1:{upstream_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
