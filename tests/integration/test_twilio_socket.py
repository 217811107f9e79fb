"""A call actor's media server on picows' callback API (actors/media_server.py,
actors/twilio_socket.py) against a real WebSocket client on 127.0.0.1: a caller frame handled in
the callback that read it (a call session's audio relayed to its model there), frames kept in
order behind one whose handling waits, why a stream went, the server's close codes,
backpressure on sends, and the handshake answered before any upgrade."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from actors import media_server
from actors.call_sockets import MediaClosed, MediaSocket
from actors.media_server import MediaServer
from actors.twilio_socket import MAX_MESSAGE, WRITE_HIGH, TwilioSocket
from engine.config import TenantConfig
from tests.unit.session_fakes import TENANT, TOKEN, Call

CALL = "/stream/CA" + "1" * 32
SIGNED = {"X-Twilio-Signature": "good"}


class Stream:
    """A call session as the media server sees it: notes each frame, whether it was handled in
    the callback that read it (no task), and why its stream went."""

    def __init__(self) -> None:
        self.frames: list[str | bytes] = []
        self.in_callback: list[bool] = []
        self.gate = asyncio.Event()
        self.socket: MediaSocket | None = None
        self.connected = asyncio.Event()
        self.went: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def handshake_refusal(self, headers: Mapping[str, str]) -> tuple[HTTPStatus, str] | None:
        if headers.get("X-Twilio-Signature") != "good":
            return HTTPStatus.FORBIDDEN, "invalid signature"
        return None

    async def handle_twilio(self, ws: MediaSocket) -> None:
        self.socket = ws
        self.connected.set()
        try:
            self.went.set_result(await ws.serve(self.on_frame))
        except Exception as exc:
            self.went.set_exception(exc)

    def on_frame(self, frame: str | bytes, received_ns: int) -> Coroutine[Any, Any, None] | None:
        self.in_callback.append(asyncio.current_task() is None)
        if frame == "wait":
            return self._wait(frame)
        self.frames.append(frame)
        return None

    async def _wait(self, frame: str | bytes) -> None:
        await self.gate.wait()
        self.frames.append(frame)


class Routes:
    """The call actor's side of routing: one call at CALL (once it has come)."""

    def __init__(self) -> None:
        self.calls: dict[str, Stream] = {}
        self.gone: set[str] = set()

    def session_for(self, path: str) -> Stream | None:
        return self.calls.get(path)

    def refuses(self, path: str) -> bool:
        return path in self.gone

    def may_come(self, path: str) -> bool:
        return re.fullmatch(r"/stream/CA[0-9a-f]{32}", path) is not None


@pytest.fixture
async def server() -> AsyncIterator[tuple[MediaServer, Routes, str]]:
    routes = Routes()
    found = MediaServer(routes)
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    await found.bind("127.0.0.1", port)
    yield found, routes, f"ws://127.0.0.1:{port}"
    found.close()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the states polled are plain attributes
            await asyncio.sleep(0.01)


async def _connected(
    server: tuple[MediaServer, Routes, str],
) -> tuple[Stream, ClientConnection]:
    _, routes, base = server
    stream = routes.calls[CALL] = Stream()
    ws = await connect(base + CALL, additional_headers=SIGNED)
    await asyncio.wait_for(stream.connected.wait(), 5)
    return stream, ws


async def test_a_frame_is_handled_in_the_callback_that_read_it_and_frames_keep_their_order(
    server: tuple[MediaServer, Routes, str],
) -> None:
    stream, ws = await _connected(server)
    for text in ("a", "wait", "b", "c"):
        await ws.send(text)
    await until(lambda: len(stream.in_callback) == 2)
    await asyncio.sleep(0.05)
    assert stream.frames == ["a"]  # "wait" waits, and what came after it waits behind it
    stream.gate.set()
    await until(lambda: len(stream.frames) == 4)
    assert stream.frames == ["a", "wait", "b", "c"]
    assert stream.in_callback == [True, True, False, False]  # b, c: run by the waiting one's task
    await ws.send("d")
    await until(lambda: len(stream.frames) == 5)
    assert stream.in_callback[-1]  # the queue is empty again: back in the callback
    await ws.close()


async def test_a_stream_rides_the_event_loops_own_transport(
    server: tuple[MediaServer, Routes, str],
) -> None:
    """Not picows' default aiofastnet transport: the loop's own costs a call actor less CPU
    (media_server.USE_AIOFASTNET has the numbers)."""
    stream, ws = await _connected(server)
    assert isinstance(stream.socket, TwilioSocket)
    assert stream.socket._transport is not None
    transport = stream.socket._transport.underlying_transport
    assert type(transport).__module__.split(".")[0] != "aiofastnet", type(transport)
    await ws.close()


async def test_frames_larger_than_the_first_read_buffer_and_a_backlog_arrive_whole(
    server: tuple[MediaServer, Routes, str],
) -> None:
    stream, ws = await _connected(server)
    big = "x" * (media_server.READ_BUFFER * 5 + 17)  # the buffer grows to hold it
    small = [f"frame {i:04d}" + "y" * 300 for i in range(200)]  # ~60 KiB read at once
    await ws.send(big)
    for text in small:
        await ws.send(text)
    await ws.send(big + "!")
    await until(lambda: len(stream.frames) == 202)
    assert stream.frames == [big, *small, big + "!"]
    await ws.close()


@pytest.mark.parametrize(
    ("how", "reason"),
    [(1000, "closed"), (1001, "closed"), (4000, "broke (4000)"), (None, "broke (no close frame)")],
)
async def test_why_a_stream_went(
    server: tuple[MediaServer, Routes, str], how: int | None, reason: str
) -> None:
    stream, ws = await _connected(server)
    await ws.send("a")
    if how is None:
        ws.transport.abort()
    else:
        await ws.close(how)
    assert await asyncio.wait_for(stream.went, 5) == reason
    assert stream.frames == ["a"]
    assert stream.socket is not None
    with pytest.raises(MediaClosed):
        await stream.socket.send("too late")


async def test_a_fragmented_message_is_handed_over_whole(
    server: tuple[MediaServer, Routes, str],
) -> None:
    stream, ws = await _connected(server)
    await ws.send(iter(['{"event": ', '"mark"}']))
    await ws.send(iter([b"\x00\x01", b"\x02"]))
    await ws.send("after")
    await until(lambda: len(stream.frames) == 3)
    assert stream.frames == ['{"event": "mark"}', b"\x00\x01\x02", "after"]
    await ws.close()


@pytest.mark.parametrize(
    ("fragments", "code"),
    [
        # each fragment under the frame limit, the message over it: refused as it grows
        ([b"x" * (MAX_MESSAGE // 2 + 1)] * 3, 1009),
        ([b'{"event": "', b"\xff\xfe", b'"}'], 1007),  # text that is not UTF-8
    ],
)
async def test_a_fragmented_message_too_big_or_not_utf8_closes_the_stream(
    server: tuple[MediaServer, Routes, str], fragments: list[bytes], code: int
) -> None:
    stream, ws = await _connected(server)
    await ws.send("before")
    await ws.send(iter(fragments), text=True)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert (await asyncio.wait_for(stream.went, 5)).startswith("broke")
    assert stream.frames == ["before"]  # nothing of the refused message was handed over


async def test_the_server_closes_with_its_code_and_reason_and_hands_over_nothing_after(
    server: tuple[MediaServer, Routes, str],
) -> None:
    stream, ws = await _connected(server)
    assert stream.socket is not None
    await ws.send("wait")
    await ws.send("after")
    await until(lambda: len(stream.in_callback) == 1)
    await asyncio.sleep(0.05)  # "after" is read, and queued behind "wait"
    await stream.socket.close(1008, "invalid signature")
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "invalid signature")
    stream.gate.set()
    assert await asyncio.wait_for(stream.went, 5) == "broke (1008)"
    assert stream.frames == ["wait"]  # the frame queued behind it was dropped with the stream
    with pytest.raises(MediaClosed):
        await stream.socket.send("too late")


async def test_a_send_waits_while_the_callers_buffer_is_full_and_goes_on_once_it_reads(
    server: tuple[MediaServer, Routes, str],
) -> None:
    stream, ws = await _connected(server)
    assert stream.socket is not None
    ws.transport.pause_reading()
    pad = "x" * 8_000
    sent = 0
    blocked: asyncio.Task[None] | None = None
    while blocked is None:
        send = asyncio.create_task(stream.socket.send(f"{sent}:{pad}"))
        await asyncio.sleep(0)
        sent += 1
        if not send.done():
            blocked = send
        assert sent < 5_000, "the write buffer never filled"
    await asyncio.sleep(0.1)
    assert not blocked.done()  # backpressure: the sender waits, memory does not grow
    assert sent * len(pad) > WRITE_HIGH
    ws.transport.resume_reading()
    received = [await asyncio.wait_for(ws.recv(), 5) for _ in range(sent)]
    await asyncio.wait_for(blocked, 5)
    assert [int(str(text).split(":")[0]) for text in received] == list(range(sent))
    await ws.close()


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/admin", SIGNED, 404),
        ("/stream/not-a-call", SIGNED, 404),
        ("/stream/CA" + "2" * 32, {}, 404),  # unsigned, for a call not here
        (CALL, {"X-Twilio-Signature": "forged"}, 403),
        ("/stream/CA" + "3" * 32, SIGNED, 503),  # recycled here
    ],
)
async def test_a_handshake_is_answered_before_any_upgrade(
    server: tuple[MediaServer, Routes, str], path: str, headers: dict[str, str], status: int
) -> None:
    _, routes, base = server
    routes.calls[CALL] = Stream()
    routes.gone.add("/stream/CA" + "3" * 32)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(base + path, additional_headers=headers, open_timeout=2):
            pass
    assert refused.value.response.status_code == status


async def test_an_early_stream_waits_for_its_call_or_is_closed(
    server: tuple[MediaServer, Routes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media_server, "PREPARE_WAIT_S", 0.5)
    found, routes, base = server
    async with connect(base + CALL, additional_headers=SIGNED) as ws:
        await ws.send("early")  # read before the call is here: handed over once it is
        await asyncio.sleep(0.1)
        stream = routes.calls[CALL] = Stream()
        found.handed_over()
        await asyncio.wait_for(stream.connected.wait(), 5)
        await until(lambda: stream.frames == ["early"])
    nowhere = "/stream/CA" + "4" * 32
    async with connect(base + nowhere, additional_headers=SIGNED) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013


async def test_a_callers_audio_reaches_the_model_inside_the_callback_that_read_it(
    server: tuple[MediaServer, Routes, str],
) -> None:
    _, routes, base = server
    call = Call(TenantConfig(TENANT.tenant_id, TENANT.name, twilio_auth_token="auth"))
    relayed_in_callback: list[bool] = []
    send = call.model.send

    def noted_send(text: str) -> bool:
        if "input_audio_buffer.append" in text:
            relayed_in_callback.append(asyncio.current_task() is None)
        return send(text)

    call.model.send = noted_send  # type: ignore[method-assign]
    await call.model.open()
    session = call.session
    routes.calls[session.media_path] = session  # type: ignore[assignment]
    signature = RequestValidator("auth").compute_signature(session.media_url, {})
    start = {"streamSid": "MZ1", "callSid": "CA1", "accountSid": "AC1"}
    start["customParameters"] = {"token": TOKEN}  # type: ignore[assignment]
    async with connect(
        base + session.media_path, additional_headers={"X-Twilio-Signature": signature}
    ) as ws:
        await ws.send(json.dumps({"event": "start", "start": start}))
        for n in range(3):
            media = {"track": "inbound", "chunk": str(n), "timestamp": "0", "payload": "AAAA"}
            await ws.send(json.dumps({"event": "media", "sequenceNumber": str(n), "media": media}))
        await until(lambda: len(relayed_in_callback) == 3)
        assert relayed_in_callback == [True, True, True]  # no task: in the read callback
        assert call.model.types().count("input_audio_buffer.append") == 3
    report = await call.end()
    assert (report.outcome, report.frames_in) == ("stream_lost", 3)  # closed with no stop
