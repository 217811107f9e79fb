"""Recordings of the Twilio REST fake (engine.sim.twilio_rest).

Endpoints (I/O through the fake's aiohttp server): a live call's recordings started
`.../Calls/{CallSid}/Recordings.json` (201; error 21220 when the call is not in progress) and
updated `.../Calls/{CallSid}/Recordings/{RecordingSid|Twilio.CURRENT}.json` (Status stopped,
paused or in-progress; 404 with no such recording), recording media
`.../Recordings/{RecordingSid}.wav|.mp3` and its deletion `DELETE .../Recordings/{Sid}.json`.
A recording started by REST sends no status callback here (the simulated caller sends those of
TwiML recordings).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from engine.sim.twilio_rest_wire import API, RestBase, not_found, rfc2822, twilio_error


@dataclass(slots=True)
class FakeRecording:
    """A recording of a live call started through the REST API."""

    sid: str
    call_sid: str
    account_sid: str
    status: str = "in-progress"  # in-progress, paused, stopped; completed once the call ends
    params: dict[str, str] = field(default_factory=dict)  # the create request's form
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


class RecordingsApi(RestBase):
    """Recording endpoints: recordings started on live calls, and media served by sid."""

    _recordings: dict[tuple[str, str], tuple[bytes, str]]  # (account, sid) -> (data, type)
    call_recordings: dict[str, list[FakeRecording]]  # by call, oldest first
    deleted_recordings: list[str]

    def _recording_routes(self) -> list[web.RouteDef]:
        call_recordings = API + "/Calls/{call_sid}/Recordings"
        media = API + "/Recordings/{rec_sid:[^/.]+}"
        return [
            web.route("POST", call_recordings + ".json", self._create_call_recording),
            web.route(
                "POST", call_recordings + "/{rec_sid:[^/]+}.json", self._update_call_recording
            ),
            web.route("GET", media + ".{ext:wav|mp3}", self._recording_media),
            web.route("DELETE", media + ".json", self._delete_recording),
        ]

    def add_recording(
        self, account_sid: str, recording_sid: str, data: bytes, content_type: str = "audio/wav"
    ) -> None:
        """Serve `data` as the recording's media (for both .wav and .mp3: no transcoding)."""
        self._recordings[(account_sid, recording_sid)] = (data, content_type)

    def _recording_json(self, recording: FakeRecording) -> dict[str, Any]:
        return {
            "account_sid": recording.account_sid,
            "api_version": "2010-04-01",
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": rfc2822(recording.created),
            "date_updated": rfc2822(recording.updated),
            "start_time": rfc2822(recording.created),
            "duration": None,
            "sid": recording.sid,
            "price": None,
            "price_unit": "USD",
            "status": recording.status,
            "channels": int(recording.params.get("RecordingChannels") == "dual") + 1,
            "source": "StartCallRecordingAPI",
            "error_code": None,
            "track": recording.params.get("RecordingTrack", "both"),
            "encryption_details": None,
            "uri": f"/2010-04-01/Accounts/{recording.account_sid}/Calls/{recording.call_sid}"
            f"/Recordings/{recording.sid}.json",
        }

    async def _create_call_recording(self, request: web.Request) -> web.Response:
        call = self._live_call(request)
        if call is None:
            return not_found(request)
        if call.status != "in-progress":
            return twilio_error(400, 21220, "Call is not in-progress. Cannot start recording.")
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        channels = params.get("RecordingChannels", "mono")
        if channels not in ("mono", "dual"):
            return twilio_error(400, 21626, f"Invalid RecordingChannels: {channels}")
        recording = FakeRecording(
            "RE" + secrets.token_hex(16), call.sid, request.match_info["account_sid"], params=params
        )
        self.call_recordings.setdefault(call.sid, []).append(recording)
        return web.json_response(self._recording_json(recording), status=201)

    async def _update_call_recording(self, request: web.Request) -> web.Response:
        call = self._live_call(request)
        if call is None:
            return not_found(request)
        wanted = request.match_info["rec_sid"]
        recordings = self.call_recordings.get(call.sid, [])
        if wanted == "Twilio.CURRENT":  # the call's recording in progress (or paused)
            live = [r for r in recordings if r.status in ("in-progress", "paused")]
            recording = live[-1] if live else None
        else:
            recording = next((r for r in recordings if r.sid == wanted), None)
        if recording is None:
            return not_found(request)
        form = await request.post()
        status = str(form.get("Status", ""))
        if status not in ("stopped", "paused", "in-progress"):
            return twilio_error(400, 21220, f"Invalid Status: {status or '(missing)'}")
        if recording.status in ("stopped", "completed"):
            return twilio_error(400, 21220, "The recording has already stopped")
        recording.status, recording.updated = status, datetime.now(UTC)
        return web.json_response(self._recording_json(recording))

    async def _delete_recording(self, request: web.Request) -> web.Response:
        """DELETE a recording: 204, its media gone; 404 for one the account does not have."""
        account, sid = request.match_info["account_sid"], request.match_info["rec_sid"]
        media = self._recordings.pop((account, sid), None)
        started = [
            (call, r)
            for call, held in self.call_recordings.items()
            for r in held
            if r.sid == sid and r.account_sid == account
        ]
        if media is None and not started:
            return not_found(request)
        for call, recording in started:
            self.call_recordings[call].remove(recording)
        self.deleted_recordings.append(sid)
        return web.Response(status=204)

    async def _recording_media(self, request: web.Request) -> web.Response:
        key = (request.match_info["account_sid"], request.match_info["rec_sid"])
        found = self._recordings.get(key)
        if found is None:
            return not_found(request)
        data, content_type = found
        return web.Response(body=data, content_type=content_type)
