"""HTTP/1.1 framing without I/O, shared by Parley's two lean clients.

:mod:`parley.chat.backends.pool` (the server's transport to its model backends) and
:mod:`parley.agents.http1` (an agent's client for its local backend) read sockets their
own way; what an answer's bytes mean is decided here, once.

Contract:

* :func:`parse_head` takes a response head up to and including its blank line and gives
  its version, status and header fields (names and values stripped, in order, repeats
  kept); anything that is not an ``HTTP/1.x`` status line is a ``ValueError``;
* :class:`Dechunker` decodes ``Transfer-Encoding: chunked`` from bytes in whatever pieces
  they arrive: :meth:`Dechunker.feed` returns the payload of every chunk that a piece
  completed, joined (servers send one chunk per event, and one read often brings
  several); chunk extensions and trailers are skipped; ``done`` is true once the last
  chunk and its trailers were read, and ``extra`` then holds what came after the body
  (a connection that sent any cannot be reused); a malformed body (a size that is not
  hexadecimal, a chunk without its line ending, a size line or trailer section longer
  than ``limit`` bytes) is a ``ValueError``.
"""

from __future__ import annotations

LIMIT = 1 << 20  # the longest chunk-size line, or trailer section, accepted

Header = tuple[bytes, bytes]


def parse_head(raw: bytes) -> tuple[bytes, int, list[Header]]:
    """``(version, status, headers)`` of a response head (see the module contract)."""
    status_line, *lines = raw.rstrip(b"\r\n").split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers = []
    for line in lines:
        if line:
            name, _, value = line.partition(b":")
            headers.append((name.strip(), value.strip()))
    return version, int(code), headers


class Dechunker:
    __slots__ = ("_buffer", "done", "extra", "limit")

    def __init__(self, *, limit: int = LIMIT) -> None:
        self._buffer = b""
        self.done = False
        self.extra = b""
        self.limit = limit

    def feed(self, data: bytes) -> bytes:
        """The payload that ``data`` completed (``b""`` if none; see the module contract)."""
        if self.done:
            self.extra += data
            return b""
        buffer = self._buffer + data if self._buffer else data
        payloads: list[bytes] = []
        position = 0
        in_data = False  # the bytes left over are a chunk's data (else a line to come)
        while (end := buffer.find(b"\r\n", position)) >= 0:
            size = _size(buffer[position:end])
            start = end + 2
            if size == 0:  # the last chunk, then trailers up to an empty line
                if buffer.startswith(b"\r\n", start):
                    position, self.done = start + 2, True
                elif (blank := buffer.find(b"\r\n\r\n", start)) >= 0:
                    position, self.done = blank + 4, True
                break
            if len(buffer) < start + size + 2:
                in_data = True
                break
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise ValueError("a chunk without its line ending")
            payloads.append(buffer[start : start + size])
            position = start + size + 2
        rest = buffer[position:]
        if self.done:
            self._buffer, self.extra = b"", rest
        else:
            if not in_data and len(rest) > self.limit:
                raise ValueError(f"a chunk-size line or trailer section over {self.limit} bytes")
            self._buffer = rest
        if not payloads:
            return b""
        return payloads[0] if len(payloads) == 1 else b"".join(payloads)


def _size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    try:
        if digits.isalnum():  # no sign, no underscore, not empty
            return int(digits, 16)
    except ValueError:
        pass
    raise ValueError(f"a chunk size that is not hexadecimal: {line[:40]!r}")
