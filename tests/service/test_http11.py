"""The lean HTTP/1.1 client against a real asyncio server: framings, keep-alive and its limits."""

from __future__ import annotations

import asyncio
import socket

import pytest

from cardano_market.service.http11 import ConnectError, Http11Client, RemoteProtocolError


async def serve(answers: list[bytes]) -> tuple[asyncio.Server, str, list[int]]:
    """A server that answers each request with the next of `answers`; counts connections."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                answer = answers.pop(0)
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/assess?key=k", connections


def client(url: str) -> Http11Client:
    return Http11Client(url, max_connections=4, keepalive_seconds=30.0, headers={"accept": "*/*"})


def test_content_length_chunked_and_close_framings_over_one_kept_alive_connection() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
    ]

    async def run() -> tuple[list[tuple[int, bytes]], int]:
        server, url, connections = await serve(answers)
        http = client(url)
        got = [await http.post(b"{}") for _ in range(3)]
        await http.aclose()
        server.close()
        return [(r.status_code, r.content) for r in got], len(connections)

    got, connections = asyncio.run(run())
    assert got == [(200, b"hello"), (200, b"abcde"), (503, b"no")]
    assert connections == 1


def test_a_closed_kept_alive_connection_is_replaced_once() -> None:
    """The server closes after the first answer without saying so: the next POST retries."""
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"]

    async def run() -> tuple[bytes, bytes, int]:
        server, url, connections = await serve(answers)
        http = client(url)
        first = await http.post(b"{}")
        await asyncio.sleep(0.05)  # the handler has closed the socket after its last answer
        answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
        second = await http.post(b"{}")
        await http.aclose()
        server.close()
        return first.content, second.content, len(connections)

    assert asyncio.run(run()) == (b"a", b"b", 2)


def test_garbage_is_a_protocol_error_and_a_closed_port_a_connect_error() -> None:
    async def garbage() -> None:
        server, url, _ = await serve([b"SSH-2.0-OpenSSH\r\n\r\n"])
        try:
            await client(url).post(b"{}")
        finally:
            server.close()

    with pytest.raises(RemoteProtocolError):
        asyncio.run(garbage())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError):
        asyncio.run(client(f"http://127.0.0.1:{port}/").post(b"{}"))
