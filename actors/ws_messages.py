"""Whole WebSocket messages out of picows' frames (RFC 6455 section 5.4): a message may come in
fragments - a TEXT or BINARY frame without FIN, then CONTINUATION frames up to one with FIN - and
picows' callback API hands over each frame as it is read. `MessageJoiner` joins them, bounded:
a message past its limit is refused as it grows, not once it is whole.
"""

from __future__ import annotations

from picows import WSCloseCode, WSFrame, WSMsgType

TEXT, CONTINUATION = WSMsgType.TEXT, WSMsgType.CONTINUATION


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
