"""The model link's socket on picows' callback API (actors/model_link.py, actors/model_socket.py,
engine/realtime_client.py) against a real WebSocket server on 127.0.0.1: refused handshakes
sorted into retryable or not, why a socket went, frames handed over in order, and a full write
buffer holding events in the link's bounded backlog instead of growing memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from actors import model_link, model_socket
from actors.model_link import ModelLink
from actors.model_socket import ModelSocket
from engine.config import EngineConfig
from engine.realtime_client import RealtimeError, open_realtime


def _config(base_url: str) -> EngineConfig:
    return EngineConfig(
        app_database_url="postgresql://nowhere/none", jwt_secret="s" * 40, openai_base_url=base_url
    )


@dataclass
class Model:
    """A realtime server that notes what it reads; `refuse` answers the handshake with that
    status; `read_paused` stops reading each socket (its client's write buffer then fills)."""

    refuse: int | None = None
    read_paused: bool = False
    received: list[str] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)  # the codes of the client's close frames
    sockets: list[WSTransport] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def listener(self, request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener:
        if self.refuse is not None:
            response = WSUpgradeResponse.create_error_response(self.refuse, b"no")
            return WSUpgradeResponseWithListener(response, None)
        return _Peer(self)


class _Peer(WSListener):
    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.model.sockets.append(transport)
        if self.model.read_paused:
            transport.underlying_transport.pause_reading()
        self.model.connected.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.model.closes.append(frame.get_close_code().value)
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT:
            self.model.received.append(frame.get_payload_as_utf8_text())


@pytest.fixture
async def model() -> AsyncIterator[tuple[Model, str]]:
    found = Model()
    server = await ws_create_server(found.listener, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield found, f"http://127.0.0.1:{port}/v1"
    server.close()


class Session:
    """The call session as the link's listener: notes what reaches it, in order."""

    def __init__(self, opening: list[str]) -> None:
        self.opening = opening
        self.frames: list[str | bytes] = []
        self.gone: list[tuple[bool, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def model_opened(self, reconnected: bool) -> list[str]:
        return self.opening

    async def model_frame(self, frame: str | bytes, received_ns: int) -> None:
        if frame == "slow":
            await self.gate.wait()
        self.frames.append(frame)

    async def model_gone(self, permanent: bool, reason: str) -> None:
        self.gone.append((permanent, reason))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the states polled are plain attributes
            await asyncio.sleep(0.01)


async def _noop(frame: str | bytes, received_ns: int) -> None:
    return None


async def _open(url: str) -> ModelSocket:
    return await open_realtime(url, "m", "k", lambda: ModelSocket(_noop, lambda: None), timeout=5)


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (404, False), (429, True)])
async def test_a_refused_handshake_is_final_unless_retryable(
    model: tuple[Model, str], status: int, retryable: bool
) -> None:
    server, url = model
    server.refuse = status
    with pytest.raises(RealtimeError) as refused:
        await _open(url)
    assert (refused.value.status, refused.value.retryable) == (status, retryable)
    server.refuse = 503
    with pytest.raises(RealtimeError) as unavailable:
        await _open(url)
    assert (unavailable.value.status, unavailable.value.retryable) == (503, True)


async def test_no_server_at_all_is_retryable() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(RealtimeError) as failed:
        await _open(f"http://127.0.0.1:{port}/v1")
    assert failed.value.retryable
    assert failed.value.status is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (WSCloseCode.OK, "model closed the socket (1000)"),
        (WSCloseCode.INTERNAL_ERROR, "model socket broke (1011)"),
        (None, "model socket broke (no close frame)"),
    ],
)
async def test_why_a_socket_went(
    model: tuple[Model, str], code: WSCloseCode | None, reason: str
) -> None:
    server, url = model
    ws = await _open(url)
    await server.connected.wait()
    (peer,) = server.sockets
    if code is None:
        peer.disconnect(False)
    else:
        peer.send_close(code)
    assert await asyncio.wait_for(ws.wait_closed(), 5) == reason
    assert not ws.writable


async def _started(url: str, frames: list[str | bytes]) -> ModelSocket:
    """A socket whose frames are noted in `frames`, handing them over at once."""

    async def note(frame: str | bytes, received_ns: int) -> None:
        frames.append(frame)

    ws = await open_realtime(url, "m", "k", lambda: ModelSocket(note, lambda: None), timeout=5)
    ws.start()
    return ws


async def test_a_fragmented_message_reaches_the_session_whole(model: tuple[Model, str]) -> None:
    server, url = model
    frames: list[str | bytes] = []
    ws = await _started(url, frames)
    await server.connected.wait()
    (peer,) = server.sockets
    peer.send(WSMsgType.TEXT, b'{"type": ', fin=False)
    peer.send(WSMsgType.CONTINUATION, b'"session.', fin=False)
    peer.send(WSMsgType.CONTINUATION, b'updated"}')
    peer.send(WSMsgType.BINARY, b"\x00", fin=False)
    peer.send(WSMsgType.CONTINUATION, b"\x01")
    await until(lambda: len(frames) == 2)
    assert frames == ['{"type": "session.updated"}', b"\x00\x01"]
    ws.close(1000, "")
    await asyncio.wait_for(ws.wait_closed(), 5)


@pytest.mark.parametrize(
    ("fragments", "code"),
    [
        ([b"x" * 600, b"x" * 600, b"x" * 600], 1009),  # over the limit (1 KiB here) as it grows
        ([b'{"type": "', b"\xff\xfe", b'"}'], 1007),  # text that is not UTF-8, in fragments
        ([b'{"type": "\xff\xfe"}'], 1007),  # and in one frame
    ],
)
async def test_a_message_too_big_or_not_utf8_closes_the_socket(
    model: tuple[Model, str],
    monkeypatch: pytest.MonkeyPatch,
    fragments: list[bytes],
    code: int,
) -> None:
    monkeypatch.setattr(model_socket, "MAX_MESSAGE_BYTES", 1024)
    server, url = model
    frames: list[str | bytes] = []
    ws = await _started(url, frames)
    await server.connected.wait()
    (peer,) = server.sockets
    peer.send(WSMsgType.TEXT, b"before")
    *first, last = fragments
    for n, part in enumerate(first):
        peer.send(WSMsgType.TEXT if n == 0 else WSMsgType.CONTINUATION, part, fin=False)
    peer.send(WSMsgType.CONTINUATION if first else WSMsgType.TEXT, last)
    reason = await asyncio.wait_for(ws.wait_closed(), 5)
    assert reason.startswith("model socket broke")  # the link reconnects
    assert not ws.writable
    assert server.closes == [code]
    assert frames == ["before"]  # nothing of the refused message reached the session


async def test_the_opening_goes_first_and_frames_reach_the_session_in_order(
    model: tuple[Model, str],
) -> None:
    server, url = model
    session = Session(['{"type": "session.update"}', '{"type": "response.create"}'])
    link = ModelLink(_config(url), session)
    held = link.send('{"n": 0}')  # before the session is up: held
    run = asyncio.create_task(link.run())
    await server.connected.wait()
    (peer,) = server.sockets
    session.gate.clear()
    for text in ("a", "slow", "b", "c"):
        peer.send(WSMsgType.TEXT, text)
    await until(lambda: link.ready)
    assert link.send('{"n": 1}')
    await until(lambda: len(server.received) == 4)
    await asyncio.sleep(0.05)
    assert session.frames == ["a"]  # "slow" waits, and what came after it waits too
    session.gate.set()
    await until(lambda: len(session.frames) == 4)
    assert not held
    assert session.frames == ["a", "slow", "b", "c"]
    assert server.received == [*session.opening, '{"n": 0}', '{"n": 1}']
    await link.close()
    await asyncio.wait_for(run, 5)
    assert session.gone == []


async def test_a_full_write_buffer_holds_events_bounded_and_sends_them_in_order(
    model: tuple[Model, str],
) -> None:
    server, url = model
    server.read_paused = True
    session = Session([])
    link = ModelLink(_config(url), session)
    run = asyncio.create_task(link.run())
    await until(lambda: link.ready)
    pad = "x" * 16_000
    written = 0
    while link.send(json.dumps({"n": written, "pad": pad})):  # until the buffer is full
        written += 1
        assert written < 10_000, "the write buffer never filled"
    extra = model_link.MAX_BACKLOG + 50
    for n in range(written + 1, written + extra):
        assert not link.send(json.dumps({"n": n, "pad": pad}))
    assert link.dropped == extra - model_link.MAX_BACKLOG
    (peer,) = server.sockets
    peer.underlying_transport.resume_reading()
    kept = written + model_link.MAX_BACKLOG
    await until(lambda: len(server.received) >= kept, 10)
    assert [json.loads(text)["n"] for text in server.received] == list(range(kept))
    assert link.send('{"n": "after"}')  # drained: written at once again
    await link.close()
    await asyncio.wait_for(run, 5)


async def test_the_model_socket_rides_the_event_loops_own_transport(
    model: tuple[Model, str],
) -> None:
    """Not picows' default aiofastnet transport: the loop's own costs a call actor less CPU
    (actors/media_server.py has the numbers)."""
    _, url = model
    socket = await _open(url)
    assert socket._transport is not None
    transport = socket._transport.underlying_transport
    assert type(transport).__module__.split(".")[0] != "aiofastnet", type(transport)
    socket.close(1000, "done")
    await asyncio.wait_for(socket.wait_closed(), 5)
