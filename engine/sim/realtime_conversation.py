"""The conversation a simulated Realtime session holds: its items, in order, and their audio.

No I/O of its own: events go out through the session's `Send`. Handles the client's
`conversation.item.create/delete/retrieve/truncate` under the GA protocol's rules, adds the user
items the input buffer commits, and opens and closes the items a response streams.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from engine.sim.realtime_items import normalize_client_item
from engine.sim.realtime_outbox import IdSource, Send
from engine.sim.realtime_response import Response
from engine.sim.realtime_validation import RequestError


@dataclass(slots=True)
class AudioInfo:
    text: str  # the full reply text
    full_ms: int  # audio length of the full reply
    generated_ms: int = 0  # audio actually sent (or kept after truncation)


class Conversation:
    """The items (`items`) and the model audio behind each assistant item (`audio`)."""

    __slots__ = ("_new_id", "_send", "audio", "items")

    def __init__(self, send: Send, new_id: IdSource) -> None:
        self._send, self._new_id = send, new_id
        self.items: list[dict[str, Any]] = []
        self.audio: dict[str, AudioInfo] = {}

    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def find(self, item_id: object) -> tuple[int, dict[str, Any]]:
        for i, item in enumerate(self.items):
            if item["id"] == item_id:
                return i, item
        raise RequestError(
            "invalid_value", f"Conversation item with id '{item_id}' not found.", "item_id"
        )

    async def add(
        self, item: dict[str, Any], previous: str | None, position: int | None = None
    ) -> None:
        self.items.insert(len(self.items) if position is None else position, item)
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self._send(
                {"type": kind, "previous_item_id": previous, "item": copy.deepcopy(item)}
            )

    # --- client events ---------------------------------------------------------------------

    async def create(self, event: dict[str, Any]) -> None:
        raw = event.get("item")
        wanted = raw.get("id") if isinstance(raw, dict) else None
        if wanted is not None and (
            not isinstance(wanted, str) or any(i["id"] == wanted for i in self.items)
        ):
            raise RequestError(
                "invalid_value", f"Invalid 'item.id': '{wanted}' is not available.", "item.id"
            )
        item = normalize_client_item(raw, wanted or self._new_id("item"))
        if item["type"] == "function_call_output" and not any(
            i["type"] == "function_call" and i.get("call_id") == item["call_id"] for i in self.items
        ):
            raise RequestError(
                "invalid_value",
                f"Tool call ID '{item['call_id']}' not found in conversation.",
                "item.call_id",
            )
        prev_id = event.get("previous_item_id")
        if prev_id is None:
            position, previous = None, self.last_id()
        elif prev_id == "root":
            position, previous = 0, None
        else:
            try:
                index, _ = self.find(prev_id)
            except RequestError:
                raise RequestError(
                    "invalid_value",
                    f"Previous item with id '{prev_id}' not found.",
                    "previous_item_id",
                ) from None
            position, previous = index + 1, prev_id
        await self.add(item, previous, position)

    async def delete(self, event: dict[str, Any]) -> None:
        index, item = self.find(event.get("item_id"))
        del self.items[index]
        self.audio.pop(item["id"], None)
        await self._send({"type": "conversation.item.deleted", "item_id": item["id"]})

    async def retrieve(self, event: dict[str, Any]) -> None:
        _, item = self.find(event.get("item_id"))
        await self._send({"type": "conversation.item.retrieved", "item": copy.deepcopy(item)})

    async def truncate(self, event: dict[str, Any]) -> None:
        _, item = self.find(event.get("item_id"))
        end_ms, index = event.get("audio_end_ms"), event.get("content_index", 0)
        info = self.audio.get(item["id"])
        if info is None:
            raise RequestError(
                "invalid_value", "Only model output audio messages can be truncated", "item_id"
            )
        if index != 0:
            raise RequestError(
                "invalid_value", f"Invalid 'content_index': {index}.", "content_index"
            )
        if isinstance(end_ms, bool) or not isinstance(end_ms, int):
            raise RequestError(
                "invalid_type",
                "Invalid type for 'audio_end_ms': expected an integer.",
                "audio_end_ms",
            )
        if end_ms < 0:
            raise RequestError(
                "integer_below_min_value",
                "Invalid 'audio_end_ms': integer below "
                f"minimum value. Expected a value >= 0, but got {end_ms} instead.",
                "audio_end_ms",
            )
        if end_ms > info.generated_ms:
            raise RequestError(
                "invalid_value",
                f"Audio content of {info.generated_ms}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        info.generated_ms = end_ms
        keep = round(len(info.text) * end_ms / max(1, info.full_ms))
        part = item["content"][0]
        part["transcript"] = (part.get("transcript") or "")[:keep]
        await self._send(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )

    # --- response output -------------------------------------------------------------------

    async def open_output(self, resp: Response, index: int, item: dict[str, Any]) -> None:
        """Announce an item a response starts (and add it, unless out of band)."""
        previous = self.last_id()
        await self._send(
            {
                "type": "response.output_item.added",
                "response_id": resp.id,
                "output_index": index,
                "item": copy.deepcopy(item),
            }
        )
        if resp.in_conversation:
            self.items.append(item)
            await self._send(
                {
                    "type": "conversation.item.added",
                    "previous_item_id": previous,
                    "item": copy.deepcopy(item),
                }
            )

    async def close_output(self, resp: Response, index: int, item: dict[str, Any]) -> None:
        """Announce a response's item finished (complete or cut short)."""
        resp.output.append(copy.deepcopy(item))
        await self._send(
            {
                "type": "response.output_item.done",
                "response_id": resp.id,
                "output_index": index,
                "item": copy.deepcopy(item),
            }
        )
        if resp.in_conversation:
            await self._send({"type": "conversation.item.done", "item": copy.deepcopy(item)})
