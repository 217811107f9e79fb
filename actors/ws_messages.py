"""Whole WebSocket messages out of picows' frames (RFC 6455 section 5.4): a message may come in
fragments - a TEXT or BINARY frame without FIN, then CONTINUATION frames up to one with FIN - and
picows' callback API hands over each frame as it is read. `MessageJoiner` joins them, bounded:
a message past its limit is refused as it grows, not once it is whole.
"""

from __future__ import annotations

from picows import WSFrame, WSMsgType

TEXT, CONTINUATION = WSMsgType.TEXT, WSMsgType.CONTINUATION


class MessageTooBig(ValueError):
    """A fragmented message grew past the joiner's limit (close code 1009)."""


class MessageJoiner:
    def __init__(self, limit: int) -> None:
        """Joins the fragments of one message at a time, up to `limit` bytes in all."""
        self._limit = limit
        self._parts: list[bytes] = []
        self._text = True
        self._size = 0

    def add(self, frame: WSFrame) -> str | bytes | None:
        """The whole message once `frame` ends it (a text message decoded), else None.
        Raises MessageTooBig past the limit, UnicodeDecodeError for text that is not UTF-8."""
        if frame.msg_type is not CONTINUATION:  # a new message: what was held is dropped
            self._text = frame.msg_type is TEXT
            self._parts.clear()
            self._size = 0
        self._size += frame.payload_size
        if self._size > self._limit:
            self._parts.clear()
            raise MessageTooBig(f"message over {self._limit} bytes")
        self._parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return None
        message = b"".join(self._parts)
        self._parts.clear()
        return message.decode() if self._text else message
