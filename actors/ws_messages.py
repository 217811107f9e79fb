"""Whole WebSocket messages out of picows' frames (RFC 6455 section 5.4): a message may come in
fragments - a TEXT or BINARY frame without FIN, then CONTINUATION frames up to one with FIN - and
picows' callback API hands over each frame as it is read. `MessageJoiner` joins them, bounded:
a message past its limit is refused as it grows, not once it is whole; `message` is what both
of a call's sockets read each frame with (a close frame answered, pings left to picows).
"""

from __future__ import annotations

from picows import WSCloseCode, WSFrame, WSMsgType, WSTransport

TEXT, BINARY, CONTINUATION, CLOSE = (
    WSMsgType.TEXT,
    WSMsgType.BINARY,
    WSMsgType.CONTINUATION,
    WSMsgType.CLOSE,
)


class BadMessage(ValueError):
    """A message the socket must close on: `code` and `reason` are its close frame's."""

    def __init__(self, code: WSCloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def text_of(frame: WSFrame) -> str:
    """An unfragmented text frame's text. Raises BadMessage (1007) when it is not UTF-8."""
    try:
        return frame.get_payload_as_utf8_text()
    except UnicodeDecodeError:
        raise BadMessage(WSCloseCode.INVALID_TEXT, "invalid utf-8") from None


class MessageJoiner:
    def __init__(self, limit: int) -> None:
        """Joins the fragments of one message at a time, up to `limit` bytes in all."""
        self._limit = limit
        self._parts: list[bytes] = []
        self._text = True
        self._size = 0

    def message(self, transport: WSTransport, frame: WSFrame) -> str | bytes | None:
        """The data message `frame` completes (an unfragmented text frame read as it is, the
        audio path), else None. A close frame is answered (echoed unless ours went first) and
        the socket disconnected; the frames read before it are still handed over. Picows
        answers pings; an unasked pong means nothing. Raises BadMessage as `add` does."""
        msg_type = frame.msg_type
        if msg_type is TEXT and frame.fin:  # the peers' events: one frame each
            return text_of(frame)
        if msg_type is TEXT or msg_type is BINARY or msg_type is CONTINUATION:
            return self.add(frame)
        if msg_type is CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        return None

    def add(self, frame: WSFrame) -> str | bytes | None:
        """The whole message once `frame` ends it (a text message decoded), else None.
        Raises BadMessage past the limit (1009) or for text that is not UTF-8 (1007)."""
        if frame.msg_type is not CONTINUATION:  # a new message: what was held is dropped
            self._text = frame.msg_type is TEXT
            self._parts.clear()
            self._size = 0
        self._size += frame.payload_size
        if self._size > self._limit:
            self._parts.clear()
            raise BadMessage(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
        self._parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return None
        message = b"".join(self._parts)
        self._parts.clear()
        if not self._text:
            return message
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise BadMessage(WSCloseCode.INVALID_TEXT, "invalid utf-8") from None
