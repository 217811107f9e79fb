"""The baseline relay: a single-process Twilio Media Streams <-> OpenAI Realtime bridge.

I/O: everything (FastAPI HTTP and WebSocket routes; one `websockets` client per call to the
realtime API). Written the way the public voice-assistant tutorials write it, on purpose: the
webhook answers TwiML built with the real `twilio` VoiceResponse, the media WebSocket opens the
model socket when Twilio connects, sends `session.update` and a greeting `response.create`, and
then two coroutines copy audio across - caller `media` to `input_audio_buffer.append`, model
`response.output_audio.delta` to Twilio `media` plus a `mark`. On `speech_started` it clears
Twilio's buffer and truncates the assistant item at what was played, as the tutorials do.
No memory, no tenants, no signature validation, no warm pool: it is the yardstick, not a product.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import websockets
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.websockets import WebSocketDisconnect
from twilio.twiml.voice_response import Connect, VoiceResponse

from engine.realtime_codec import realtime_url

SYSTEM_MESSAGE = "You are a helpful and friendly assistant of an insurance agency."
GREETING = 'Greet the caller with: "Hello, thanks for calling. How can I help you today?"'
VOICE = "marin"


def session_update() -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": SYSTEM_MESSAGE,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": VOICE},
            },
        },
    }


def build_app(*, openai_base_url: str, api_key: str, model: str, media_ws_url: str) -> FastAPI:
    """The relay app; `media_ws_url` is the `<Stream url>` Twilio is told to connect to."""
    app = FastAPI()
    model_url = realtime_url(openai_base_url, model)

    @app.post("/twilio/voice")
    async def incoming_call(request: Request) -> Response:
        response = VoiceResponse()
        connect = Connect()
        connect.stream(url=media_ws_url)
        response.append(connect)
        return Response(content=str(response), media_type="application/xml")

    @app.websocket("/media-stream")
    async def media_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        async with websockets.connect(
            model_url,
            additional_headers={"Authorization": f"Bearer {api_key}"},
            compression=None,
            max_size=1 << 24,
        ) as openai_ws:
            await openai_ws.send(json.dumps(session_update()))
            await openai_ws.send(
                json.dumps({"type": "response.create", "response": {"instructions": GREETING}})
            )
            state: dict[str, Any] = {
                "stream_sid": None,
                "latest_media_timestamp": 0,
                "last_assistant_item": None,
                "mark_queue": [],
                "response_start_timestamp_twilio": None,
            }

            async def receive_from_twilio() -> None:
                try:
                    async for message in websocket.iter_text():
                        data = json.loads(message)
                        event = data.get("event")
                        if event == "media":
                            state["latest_media_timestamp"] = int(data["media"]["timestamp"])
                            await openai_ws.send(
                                json.dumps(
                                    {
                                        "type": "input_audio_buffer.append",
                                        "audio": data["media"]["payload"],
                                    }
                                )
                            )
                        elif event == "start":
                            state["stream_sid"] = data["start"]["streamSid"]
                            state["response_start_timestamp_twilio"] = None
                            state["latest_media_timestamp"] = 0
                            state["last_assistant_item"] = None
                        elif event == "mark":
                            if state["mark_queue"]:
                                state["mark_queue"].pop(0)
                        elif event == "stop":
                            break
                except WebSocketDisconnect:
                    pass
                await openai_ws.close()

            async def send_to_twilio() -> None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    async for openai_message in openai_ws:
                        response = json.loads(openai_message)
                        kind = response.get("type")
                        if kind == "response.output_audio.delta" and state["stream_sid"]:
                            await websocket.send_json(
                                {
                                    "event": "media",
                                    "streamSid": state["stream_sid"],
                                    "media": {"payload": response["delta"]},
                                }
                            )
                            if state["response_start_timestamp_twilio"] is None:
                                state["response_start_timestamp_twilio"] = state[
                                    "latest_media_timestamp"
                                ]
                            if response.get("item_id"):
                                state["last_assistant_item"] = response["item_id"]
                            await send_mark()
                        elif (
                            kind == "input_audio_buffer.speech_started"
                            and state["last_assistant_item"]
                        ):
                            await handle_speech_started_event()

            async def handle_speech_started_event() -> None:
                start = state["response_start_timestamp_twilio"]
                if state["mark_queue"] and start is not None:
                    elapsed = state["latest_media_timestamp"] - start
                    await openai_ws.send(
                        json.dumps(
                            {
                                "type": "conversation.item.truncate",
                                "item_id": state["last_assistant_item"],
                                "content_index": 0,
                                "audio_end_ms": elapsed,
                            }
                        )
                    )
                    await websocket.send_json({"event": "clear", "streamSid": state["stream_sid"]})
                    state["mark_queue"].clear()
                    state["last_assistant_item"] = None
                    state["response_start_timestamp_twilio"] = None

            async def send_mark() -> None:
                if state["stream_sid"]:
                    await websocket.send_json(
                        {
                            "event": "mark",
                            "streamSid": state["stream_sid"],
                            "mark": {"name": "responsePart"},
                        }
                    )
                    state["mark_queue"].append("responsePart")

            await asyncio.gather(receive_from_twilio(), send_to_twilio())
        with contextlib.suppress(RuntimeError):
            await websocket.close()

    return app
