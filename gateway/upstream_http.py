"""A lean pooled HTTP/1.1 client for the proxy's hot path: asyncio protocols, httptools' parser.

Why not aiohttp's client here: per proxied request its ``ClientSession.request`` machinery (request
and response objects, header multidicts, timers, traces, the stream reader) cost the gateway about
three quarters of its CPU (bench/FIXES.md, "Gateway proxy (issue 15g)"). This client does only what
the proxy needs: one request on a kept connection, the answer's head parsed by httptools (the C
parser uvicorn uses), the body buffered or streamed.

Behaviour the proxy relies on:

- one pool per upstream (``limit`` connections at most, callers wait for a free one), idle
  connections kept ``keepalive_s`` and reused newest first;
- a request body as bytes (sent with ``content-length``) or an async iterator (sent chunked, with
  the transport's flow control: a slow upstream is not buffered in memory);
- answers with ``content-length``, chunked, or ended by the upstream closing; 1xx answers skipped;
  a streamed answer pauses reading while the gateway's client has not taken the last chunks;
- a connection goes back to the pool only after a complete exchange the upstream keeps alive;
- a kept connection the upstream already closed (nothing of an answer received) raises
  :class:`Disconnected` with ``retryable=True``: the caller sends once more on a fresh one when
  that is safe; a connection that cannot be opened raises :class:`ConnectFailed` (no retry);
- ``timeout_s`` bounds connecting, sending and the answer's head and (buffered) body; for a
  streamed body it bounds each wait for the next chunk; expiry raises ``TimeoutError``.

HEAD requests and ``https`` upstreams stay on aiohttp (gateway/proxy.py decides).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from typing import Any

import httptools

CRLF = b"\r\n"
# A streamed answer stops reading from the upstream while this much is waiting for the client.
HIGH_WATER = 256 * 1024


class UpstreamError(Exception):
    """The upstream could not be reached or broke off the exchange."""


class ConnectFailed(UpstreamError):
    """No connection could be opened (refused, unreachable, name unknown)."""


class Disconnected(UpstreamError):
    """The connection closed or the answer could not be parsed before the exchange was complete.

    ``retryable``: nothing of an answer arrived on a reused connection, so the request can be sent
    again on a fresh one if sending twice is safe."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.used = False  # had a complete exchange before the current one
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future[None] = self.loop.create_future()
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.received = False  # any byte of the current answer
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self.streaming = False
        self.body_sent = True
        self.writer: asyncio.Task[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Disconnected(f"unreadable answer: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost finishes the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(Disconnected("connection closed while sending"))
        if self.complete:
            return
        if self.head.done() and not self._framed():
            self.complete = True  # an answer without length or chunks ends when the connection does
            self._wake()
            return
        if not self.received and self.used:
            self._fail(Disconnected("kept connection was closed", retryable=True))
        else:
            self._fail(Disconnected("connection closed before the answer was complete"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            return  # informational: the real answer follows (headers reset on its completion)
        self.status = status
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.streaming and self.buffered >= HIGH_WATER and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:  # the end of a 1xx answer
            self.headers = []
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # llhttp knows only until the next message
        self._wake()

    # the exchange

    def _framed(self) -> bool:
        return any(k in (b"content-length", b"transfer-encoding") for k, _ in self.headers)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if not self.head.done():
            self.head.set_exception(exc)
            self.head.exception()  # retrieved: a caller that gave up must not log it
        self._wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def reusable(self) -> bool:
        return (
            self.complete
            and self.error is None
            and not self.closed
            and self.body_sent
            and self.keep_alive
            and not self.chunks
        )

    def send(self, head: bytes, body: bytes | AsyncIterator[bytes] | None) -> None:
        assert self.transport is not None
        if body is None or isinstance(body, bytes | bytearray):
            self.transport.write(head + body if body else head)
            return
        self.transport.write(head)
        self.body_sent = False
        self.writer = self.loop.create_task(self._send_stream(body))

    async def _send_stream(self, body: AsyncIterator[bytes]) -> None:
        assert self.transport is not None
        try:
            async for chunk in body:
                if self.closed:
                    raise Disconnected("connection closed while sending")
                if chunk:
                    self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    if self._write_paused:
                        self._drain = self.loop.create_future()
                        await self._drain
            if not self.closed:
                self.transport.write(b"0\r\n\r\n")
                self.body_sent = True
        except asyncio.CancelledError:
            self.abort()  # the exchange was given up (its answer came, or it failed or timed out)
            raise
        except Exception as exc:
            # The upstream cannot be told the body ended early: the connection is not usable.
            # (The proxy knows when the cause was its own size limit.)
            self._fail(Disconnected(f"the request body stopped: {type(exc).__name__}"))
            self.abort()

    async def wait(self) -> None:
        """Until more of the answer's body arrived, it is complete, or the exchange failed."""
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def take(self) -> bytes:
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()
            self._paused = False
        return data


class Answer:
    """The head of an upstream's answer; the body is read with :meth:`read` or :meth:`iter_body`
    (once), after which the connection goes back to the pool or is closed."""

    def __init__(self, pool: Pool, conn: _Connection) -> None:
        self._pool = pool
        self._conn = conn
        self.status = conn.status
        self.headers = conn.headers
        self.content_length: int | None = None
        for k, v in conn.headers:
            if k == b"content-length" and v.isdigit():
                self.content_length = int(v)
        self._done = False

    async def read(self) -> bytes:
        """The whole body (within the pool's timeout)."""
        conn = self._conn
        try:
            if not conn.complete:  # a small answer usually came with its head: no timer then
                async with asyncio.timeout(self._pool.timeout_s):
                    while not conn.complete:
                        if conn.error is not None:
                            raise conn.error
                        await conn.wait()
            if conn.error is not None:
                raise conn.error
            return conn.take()
        finally:
            self.release()

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The body as it arrives; each wait for more is bounded by the pool's timeout."""
        conn = self._conn
        conn.streaming = True
        try:
            while True:
                if conn.chunks:
                    yield conn.take()
                    continue
                if conn.error is not None:
                    raise conn.error
                if conn.complete:
                    return
                async with asyncio.timeout(self._pool.timeout_s):
                    await conn.wait()
        finally:
            self.release()

    def release(self) -> None:
        """Back to the pool after a complete exchange, else closed (idempotent)."""
        if self._done:
            return
        self._done = True
        self._pool._release(self._conn)


class Pool:
    """Kept connections to one upstream (``http://host:port``)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limit: int,
        timeout_s: float,
        connect_timeout_s: float,
        keepalive_s: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.host_header = f"{host}:{port}".encode("idna")
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self._limit = limit
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closed = False

    async def request(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
        *,
        retry: bool,
    ) -> Answer:
        """Sends ``method target`` (path and query, already encoded) and waits for the answer's
        head. ``headers`` must not hold hop-by-hop fields or ``host``; ``content-length`` or
        ``transfer-encoding: chunked`` is added for a body. ``retry``: once more on a fresh
        connection when a kept one turns out closed (only for requests safe to send twice)."""
        lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", self.host_header, CRLF]
        for k, v in headers:
            lines += (k, b": ", v, CRLF)
        if isinstance(body, bytes | bytearray):
            lines += (b"content-length: ", str(len(body)).encode(), CRLF)
        elif body is not None:
            lines.append(b"transfer-encoding: chunked\r\n")
        elif method in ("POST", "PUT", "PATCH"):
            lines.append(b"content-length: 0\r\n")
        lines.append(CRLF)
        head = b"".join(lines)
        async with asyncio.timeout(self.timeout_s):
            while True:
                conn = await self._acquire()
                try:
                    conn.send(head, body)
                    await conn.head
                    return Answer(self, conn)
                except Disconnected as exc:
                    self._release(conn)
                    if not (retry and exc.retryable):
                        raise
                    retry = False
                except BaseException:
                    self._release(conn)
                    raise

    async def _acquire(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                conn._reset()
                return conn
            self._open -= 1
            conn.close()
        while self._open >= self._limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif not waiter.cancelled():
                    self._wake_one()  # pass the slot we were given on
                raise
            if self._idle:
                return await self._acquire()
        self._open += 1
        return await self._connect()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, proto = await loop.create_connection(lambda: _Connection(loop), self.host, self.port)
        except TimeoutError:
            self._open -= 1
            self._wake_one()
            raise
        except OSError as exc:
            self._open -= 1
            self._wake_one()
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise
        return proto

    def _release(self, conn: _Connection) -> None:
        if conn.writer is not None and not conn.writer.done():
            conn.writer.cancel()
            conn.body_sent = False
        if conn.reusable() and not self.closed:
            conn.used = True
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
            self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    async def close(self) -> None:
        self.closed = True
        for conn in self._idle:
            conn.close()
        self._open -= len(self._idle)
        self._idle.clear()


def pool_for(base: str, **kw: Any) -> Pool | None:
    """A pool for an ``http://host[:port]`` base URL without a path; None for anything else
    (``https``, a path prefix), which the proxy leaves to aiohttp."""
    import yarl

    url = yarl.URL(base)
    if url.scheme != "http" or url.host is None or url.path not in ("", "/") or url.user or url.query_string:
        return None
    return Pool(url.host, url.port or 80, **kw)
