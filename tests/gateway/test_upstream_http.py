"""The proxy's lean HTTP/1.1 client (gateway/upstream_http.py) against real upstream servers on
loopback: keep-alive and reuse, framing (content-length, chunked, until close, 1xx), streaming both
ways without buffering, a kept connection the upstream closed, timeouts, the pool's limit; and
through the gateway: hop-by-hop headers, request id, X-Forwarded-For, 504, no second POST."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway.upstream_http import ConnectFailed, Disconnected, Pool
from tests.gateway.test_gateway_security import gateway
from tests.support.fixtures import free_port

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]


async def read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """The request body after ``head``: content-length or chunked."""
    lines = head.lower().split(b"\r\n")
    for line in lines:
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    if b"transfer-encoding: chunked" in lines:
        out = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return out
            out += chunk[:-2]
    return b""


class Upstream:
    """A scripted HTTP/1.1 server: ``answer(reader, writer, head)`` answers one request (reading
    its body) and says whether to keep the connection. Counts connections, records heads."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                if not await self.answer(reader, writer, head):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@contextlib.asynccontextmanager
async def serve(answer: Answer) -> AsyncIterator[tuple[str, Upstream]]:
    upstream = Upstream(answer)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", upstream
    finally:
        server.close()
        await server.wait_closed()


def pool(url: str, **kw) -> Pool:
    host, port = url.removeprefix("http://").split(":")
    return Pool(host, int(port), **{"limit": 10, "timeout_s": 5.0, "connect_timeout_s": 2.0, **kw})


async def ok(reader, writer, head) -> bool:
    body = await read_body(reader, head)
    answer = b"got " + str(len(body)).encode()
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(answer), answer))
    await writer.drain()
    return True


async def test_one_kept_connection_is_reused():
    async with serve(ok) as (url, up):
        p = pool(url)
        for i in range(5):
            answer = await p.request("POST", b"/x?i=%d" % i, [(b"a", b"1")], b"hello", retry=True)
            assert (answer.status, await answer.read()) == (200, b"got 5")
        await p.close()
    assert up.connections == 1
    first = up.heads[0].split(b"\r\n")
    assert first[0] == b"POST /x?i=0 HTTP/1.1"
    assert f"host: {url.removeprefix('http://')}".encode() in first and b"content-length: 5" in first


async def test_chunked_close_delimited_and_informational_answers():
    async def answer(reader, writer, head) -> bool:
        await read_body(reader, head)
        if head.startswith(b"GET /chunked"):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        elif head.startswith(b"GET /continue"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\nx-a: b\r\n\r\nok")
        else:  # HTTP/1.0 style: the body ends with the connection
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close")
            await writer.drain()
            return False
        await writer.drain()
        return True

    async with serve(answer) as (url, up):
        p = pool(url)
        chunked = await p.request("GET", b"/chunked", [], None, retry=True)
        assert (chunked.content_length, await chunked.read()) == (None, b"abcde")
        informational = await p.request("GET", b"/continue", [], None, retry=True)
        assert informational.status == 201 and informational.headers == [(b"content-length", b"2"), (b"x-a", b"b")]
        assert await informational.read() == b"ok"
        closing = await p.request("GET", b"/close", [], None, retry=True)
        assert await closing.read() == b"until close"
        again = await p.request("GET", b"/chunked", [], None, retry=True)
        assert await again.read() == b"abcde"
        await p.close()
    assert up.connections == 2  # the closed one was not reused


async def test_an_answer_streams_before_it_is_complete():
    taken = asyncio.Event()

    async def answer(reader, writer, head) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2000000\r\n\r\n" + b"a" * 1000)
        await writer.drain()
        await asyncio.wait_for(taken.wait(), 5)  # the rest only once the client has the first part
        writer.write(b"b" * 1_999_000)
        await writer.drain()
        return True

    async with serve(answer) as (url, _):
        p = pool(url)
        answer_ = await p.request("GET", b"/big", [], None, retry=True)
        received = b""
        async for chunk in answer_.iter_body():
            received += chunk
            taken.set()
        assert received == b"a" * 1000 + b"b" * 1_999_000
        await p.close()


async def test_a_request_body_streams_before_it_is_complete():
    first_seen = asyncio.Event()

    async def answer(reader, writer, head) -> bool:
        if head.startswith(b"GET"):
            return await ok(reader, writer, head)
        assert b"transfer-encoding: chunked" in head.lower()
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        first = (await reader.readexactly(size + 2))[:-2]
        first_seen.set()
        rest = await read_body(reader, b"transfer-encoding: chunked")
        total = str(len(first) + len(rest)).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(total), total))
        await writer.drain()
        return True

    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 70_000
        await asyncio.wait_for(first_seen.wait(), 5)  # the upstream has it before the rest exists
        for _ in range(30):
            yield b"y" * 100_000

    async with serve(answer) as (url, up):
        p = pool(url)
        answer_ = await p.request("POST", b"/upload", [], body(), retry=False)
        assert await answer_.read() == b"3070000"
        answer_ = await p.request("GET", b"/after", [], None, retry=True)
        assert answer_.status == 200
        await answer_.read()
        await p.close()
    assert up.connections == 1


def one_answer_per_connection(dropped: list[bytes]) -> Answer:
    """Answers keep-alive style, then closes the connection when the next request arrives on it."""
    answered: set[int] = set()

    async def answer(reader, writer, head) -> bool:
        await read_body(reader, head)
        if id(writer) in answered:
            dropped.append(head.split(b"\r\n")[0])
            return False
        answered.add(id(writer))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        return True

    return answer


async def test_a_closed_kept_connection_is_retried_only_when_allowed():
    dropped: list[bytes] = []
    async with serve(one_answer_per_connection(dropped)) as (url, up):
        p = pool(url)
        for _ in range(3):
            answer = await p.request("GET", b"/g", [], None, retry=True)
            assert await answer.read() == b"ok"
        with pytest.raises(Disconnected):
            await p.request("POST", b"/p", [], b"once", retry=False)
        await p.close()
    assert dropped == [b"GET /g HTTP/1.1", b"GET /g HTTP/1.1", b"POST /p HTTP/1.1"]
    assert up.connections == 3  # each retry on a fresh connection, which the next call finds dead


async def test_timeouts_refusals_and_answers_broken_off():
    async def silent(reader, writer, head) -> bool:
        await asyncio.sleep(3)
        return False

    async with serve(silent) as (url, _):
        p = pool(url, timeout_s=0.2)
        with pytest.raises(TimeoutError):
            await p.request("GET", b"/slow", [], None, retry=True)
        await p.close()
    with pytest.raises(ConnectFailed):
        await pool(f"http://127.0.0.1:{free_port()}").request("GET", b"/", [], None, retry=True)

    async def broken(reader, writer, head) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")
        await writer.drain()
        return False

    async with serve(broken) as (url, _):
        p = pool(url)
        answer = await p.request("GET", b"/", [], None, retry=True)
        with pytest.raises(Disconnected):
            await answer.read()
        await p.close()


async def test_the_pool_never_opens_more_than_its_limit():
    async def slow(reader, writer, head) -> bool:
        await asyncio.sleep(0.05)
        return await ok(reader, writer, head)

    async with serve(slow) as (url, up):
        p = pool(url, limit=2)

        async def one(i: int) -> bytes:
            answer = await p.request("GET", b"/%d" % i, [], None, retry=True)
            return await answer.read()

        assert await asyncio.gather(*(one(i) for i in range(8))) == [b"got 0"] * 8
        await p.close()
    assert up.most_open <= 2 and up.connections == 2


async def test_hop_by_hop_headers_request_id_and_forwarded_for_through_the_gateway(test_db, signing_key, tokens):
    async def answer(reader, writer, head) -> bool:
        await read_body(reader, head)
        writer.write(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Request-ID: theirs\r\n"
            b"Server: up\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: text/plain\r\nX-Kept: yes\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        )
        await writer.drain()
        return True

    async with serve(answer) as (url, up), gateway(test_db, signing_key, url) as gw:
        r = await gw.get(
            "/api/catalogue/v1/x?q=1",
            headers={
                **tokens.headers("admin"),
                "X-Request-ID": "rid-9",
                "Connection": "keep-alive, Upgrade",
                "Upgrade": "websocket",
                "TE": "trailers",
                "Keep-Alive": "timeout=9",
                "X-Forwarded-For": "6.6.6.6",
                "X-Forwarded-Host": "evil",
                "Forwarded": "for=6.6.6.6",
            },
        )
    assert r.status_code == 200 and r.text == "hi"
    assert r.headers["x-kept"] == "yes" and r.headers["x-request-id"] == "rid-9"
    assert r.headers.get_list("x-request-id") == ["rid-9"]
    for gone in ("connection", "keep-alive", "server", "date", "transfer-encoding"):
        assert gone not in r.headers, gone
    lines = up.heads[0].decode().split("\r\n")
    assert lines[0] == "GET /v1/x?q=1 HTTP/1.1"
    names = [line.split(":")[0].lower() for line in lines[1:] if line]
    for gone in ("connection", "upgrade", "te", "keep-alive", "x-forwarded-host", "forwarded"):
        assert gone not in names, gone
    assert names.count("x-request-id") == 1 and "x-request-id: rid-9" in lines
    assert names.count("x-forwarded-for") == 1 and "x-forwarded-for: 127.0.0.1" in lines
    assert names.count("host") == 1 and f"host: {url.removeprefix('http://')}" in lines
    assert "authorization" in names


async def test_through_the_gateway_a_timeout_is_504_and_a_post_is_not_sent_twice(test_db, signing_key, tokens):
    async def silent(reader, writer, head) -> bool:
        await asyncio.sleep(3)
        return False

    async with serve(silent) as (url, _), gateway(test_db, signing_key, url, upstream_timeout_s=0.3) as gw:
        r = await gw.get("/api/catalogue/v1/slow", headers=tokens.headers("admin"))
    assert r.status_code == 504 and r.json()["type"].endswith("/upstream-timeout")

    dropped: list[bytes] = []
    async with serve(one_answer_per_connection(dropped)) as (url, _), gateway(test_db, signing_key, url) as gw:
        h = {**tokens.headers("university", org="u"), "Content-Type": "application/json"}
        first = await gw.post("/api/assessment/v1/batches", content=b"{}", headers=h)
        second = await gw.post("/api/assessment/v1/batches", content=b"{}", headers=h)
    assert first.status_code == 200
    assert second.status_code == 503 and second.json()["type"].endswith("/upstream-unavailable")
    assert dropped == [b"POST /v1/batches HTTP/1.1"]  # sent once, not again on a fresh connection


async def test_large_bodies_stream_through_the_gateway_both_ways(test_db, signing_key, tokens):
    first_seen = asyncio.Event()

    async def answer(reader, writer, head) -> bool:
        if head.startswith(b"POST"):
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            first = (await reader.readexactly(size + 2))[:-2]
            first_seen.set()
            total = len(first) + len(await read_body(reader, b"transfer-encoding: chunked"))
            body = str(total).encode()
        else:
            body = b"z" * 3_000_000
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body))
        await writer.drain()
        return True

    async def upload() -> AsyncIterator[bytes]:
        yield b"x" * 65_536
        await asyncio.wait_for(first_seen.wait(), 5)  # the service has it while the client still sends
        for _ in range(40):
            yield b"y" * 65_536

    async with serve(answer) as (url, _), gateway(test_db, signing_key, url, max_body_bytes=10_000_000) as gw:
        up = await gw.post("/api/catalogue/v1/upload", content=upload(), headers=tokens.headers("admin"))
        down = await gw.get("/api/catalogue/v1/download", headers=tokens.headers("admin"))
    assert up.status_code == 200 and up.text == str(41 * 65_536)
    assert down.status_code == 200 and down.content == b"z" * 3_000_000
    assert "content-length" not in down.headers or down.headers["content-length"] == "3000000"
