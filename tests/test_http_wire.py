"""HTTP/1.1 framing: response heads and chunked bodies, fed in every possible split."""

from __future__ import annotations

import pytest

from parley.http_wire import Dechunker, parse_head

BODY = b"4\r\nab\r\n\r\n3;name=value\r\ncd\n\r\n0\r\nTrailer: 1\r\nOther: 2\r\n\r\n"


def decode(pieces: list[bytes], *, limit: int = 1 << 20) -> tuple[list[bytes], Dechunker]:
    body = Dechunker(limit=limit)
    return [out for piece in pieces if (out := body.feed(piece))], body


@pytest.mark.parametrize("step", [1, 2, 3, 5, 8, 13, len(BODY)])
def test_a_body_decodes_the_same_whatever_the_read_boundaries(step: int) -> None:
    pieces = [BODY[at : at + step] for at in range(0, len(BODY), step)]
    payloads, body = decode(pieces)
    assert b"".join(payloads) == b"ab\r\ncd\n"
    assert body.done and body.extra == b""


def test_chunks_completed_by_one_read_come_out_joined() -> None:
    payloads, body = decode([b"2\r\nab\r\n2\r\ncd\r\n1\r\n", b"e\r\n0\r\n\r\n"])
    assert payloads == [b"abcd", b"e"]
    assert body.done


def test_the_end_is_seen_only_with_its_blank_line() -> None:
    body = Dechunker()
    assert body.feed(b"1\r\na\r\n0\r\n") == b"a"
    assert not body.done
    body.feed(b"Trailer: x\r\n")
    assert not body.done
    body.feed(b"\r\n")
    assert body.done


def test_bytes_after_the_body_are_kept_apart() -> None:
    _, body = decode([b"1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", b"more"])
    assert body.done and body.extra == b"HTTP/1.1 200 OK\r\nmore"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"zz\r\n", "not hexadecimal"),
        (b"-1\r\n", "not hexadecimal"),
        (b"\r\n", "not hexadecimal"),
        (b"2\r\nabc\r\n", "without its line ending"),
    ],
)
def test_malformed_bodies_are_value_errors(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Dechunker().feed(data)


def test_endless_size_lines_and_trailers_are_refused() -> None:
    with pytest.raises(ValueError, match="over 16 bytes"):
        decode([b"1" * 10, b"1" * 10], limit=16)
    with pytest.raises(ValueError, match="over 16 bytes"):
        decode([b"0\r\nTrailer: " + b"x" * 20], limit=16)
    # a chunk's data may be longer than the limit: it is waited for, not refused
    payloads, body = decode([b"20\r\n" + b"x" * 20, b"x" * 12 + b"\r\n0\r\n\r\n"], limit=16)
    assert payloads == [b"x" * 32] and body.done


def test_a_head_gives_version_status_and_fields_in_order() -> None:
    raw = b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nX-A:  1 \r\nx-a: 2\r\n\r\n"
    assert parse_head(raw) == (
        b"HTTP/1.0",
        404,
        [(b"Content-Type", b"text/plain"), (b"X-A", b"1"), (b"x-a", b"2")],
    )
    assert parse_head(b"HTTP/1.1 204\r\n\r\n") == (b"HTTP/1.1", 204, [])


@pytest.mark.parametrize("raw", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n", b"\r\n"])
def test_what_is_not_an_http_head_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"not an HTTP/1\.x status line"):
        parse_head(raw)
