"""The call session as scripted timelines against fakes of its seams (tests/unit/session_fakes.py):
no Ray, no sockets. What the caller hears, what the model is sent, and the order a call ends in."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from actors import call_timers, tool_calls
from engine.audio import FRAME_BYTES, b64
from engine.sim import spoken
from memory.call_records import Turn
from prompts import call_lines
from prompts.instructions import resume_request
from tests.unit.session_fakes import CONFIG, Call, settle

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def instructions(frame: dict[str, object]) -> str:
    response = frame["response"]
    assert isinstance(response, dict)
    return str(response["instructions"])


async def test_greeting_is_buffered_until_the_stream_starts_then_audio_relays_both_ways() -> None:
    call = Call()
    await call.model.open()
    assert call.model.types() == ["session.update", "response.create"]
    greeting = instructions(call.model.sent[1])
    assert "Acme Insurance" in greeting or "Thank you" in greeting or '"' in greeting
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="AAAA"
    )
    call.connect()
    await settle()
    assert call.twilio.sent == []  # no stream yet: the greeting waits

    call.twilio.start()
    await settle()
    assert call.twilio.events() == ["media", "mark"]
    assert call.twilio.sent[0]["media"] == {"payload": "AAAA"}
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="BBBB"
    )
    assert call.twilio.events() == ["media", "mark", "media", "mark"]

    call.twilio.media("CCCC")
    await settle()
    assert call.model.sent[-1] == {"type": "input_audio_buffer.append", "audio": "CCCC"}

    await call.model.frame(
        "response.output_audio_transcript.done",
        response_id="r1",
        item_id="i1",
        transcript="Hello, Acme Insurance.",
    )
    call.twilio.push("stop", stop={"callSid": "CA1"})
    report = await call.end()

    assert report.outcome == "caller_hung_up"
    assert (report.frames_in, report.frames_out) == (1, 2)
    assert report.greeting_ms is not None
    # the model frame's arrival travels with its audio: the delta relayed live is measured,
    # the one buffered before the stream started is not; the caller frame is measured once
    assert sum(report.outbound_latency_us) == 1
    assert sum(report.inbound_latency_us) == 1
    assert [t.role for t in call.memory.turns] == ["agent"]
    assert call.model.closed


async def test_a_call_ends_in_order_turns_then_outcome_then_sockets_then_report() -> None:
    call = Call()
    await call.live()
    await call.model.frame(
        "conversation.item.input_audio_transcription.completed", item_id="c1", transcript="Hi"
    )
    call.twilio.push("stop", stop={"callSid": "CA1"})
    await call.end()
    names = call.log.names()
    assert names.index("start_call") < names.index("append_turns")
    order = ["append_turns", "finish_call", "enqueue_post_call", "twilio_closed", "report"]
    assert [n for n in names if n in order] == order
    assert call.memory.ends[0].outcome == "caller_hung_up"
    assert ("stream_connected", "MZ1") in call.log


async def test_barge_in_clears_the_callers_playback_and_cuts_the_models_answer() -> None:
    call = Call()
    await call.live()
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="AAAA" * 100
    )
    await call.model.frame("input_audio_buffer.speech_started", audio_start_ms=10)
    await settle()
    assert call.twilio.events()[-1] == "mark"  # not yet: a cough or an "uh-huh" is let be
    # the caller's own voice, measured on their audio, makes it an interruption
    speech = spoken.speak("Wait, I need to change the address on my policy.")
    for i in range(0, len(speech), FRAME_BYTES):
        call.twilio.media(b64(speech[i : i + FRAME_BYTES]))
    await settle(0.2)
    assert call.twilio.events()[-1] == "clear"
    types = call.model.types()
    cut = types.index("response.cancel")
    assert types[cut + 1] == "conversation.item.truncate"
    assert call.model.sent[cut + 1]["item_id"] == "i1"
    await call.session.shutdown()
    report = await call.end()
    assert report.barge_ins == 1


async def test_a_slow_tool_gets_a_filler_line_and_a_quick_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tool_calls, "FILLER_AFTER_S", 0.25)  # wide: a busy CPU stays under it
    call = Call(message_s=0.8)
    await call.live()
    await call.model.frame("response.created", response={"id": "r0"})
    await call.model.frame("response.done", response={"id": "r0", "status": "completed"})
    before = len(call.model.sent)

    await call.model.frame(
        "response.function_call_arguments.done",
        call_id="f1",
        name="get_current_time",
        arguments="{}",
    )
    await settle(0.1)
    assert call.model.types()[before:] == ["conversation.item.create", "response.create"]
    assert call.model.sent[before]["item"]["call_id"] == "f1"
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame("response.done", response={"id": "r1", "status": "completed"})
    before = len(call.model.sent)

    await call.model.frame(
        "response.function_call_arguments.done",
        call_id="f2",
        name="take_message",
        arguments=json.dumps({"reason": "call me back"}),
    )
    await settle(0.4)
    assert call.model.types()[before:] == ["response.create"]
    assert instructions(call.model.sent[before]) == call_lines.FILLER
    await settle(0.6)
    assert call.model.types()[before:] == ["response.create", "conversation.item.create"]
    assert ("take_message", "call me back") in call.log
    await call.session.shutdown()
    report = await call.end()
    assert report.fillers == (("take_message", 1),)
    latency = {(t.tool, t.status): t for t in report.tool_ms}
    assert set(latency) == {("get_current_time", "ok"), ("take_message", "ok")}
    assert sum(latency["get_current_time", "ok"].counts) == 1
    assert sum(latency["take_message", "ok"].counts) == 1
    assert latency["take_message", "ok"].sum_ms >= 800  # the caller waited through the tool


async def test_a_tool_the_call_does_not_offer_is_an_error_counted_as_unknown() -> None:
    call = Call()
    await call.live()
    await call.model.frame("response.created", response={"id": "r0"})
    await call.model.frame("response.done", response={"id": "r0", "status": "completed"})
    for n, name in enumerate(("send_fax", "wire_money", "verify_caller")):
        await call.model.frame(
            "response.function_call_arguments.done", call_id=f"f{n}", name=name, arguments="{}"
        )
        await settle(0.05)
        output = json.loads(call.model.sent[-2]["item"]["output"])
        assert output == {"ok": False, "error": f"unknown tool '{name}'"}
        await call.model.frame("response.created", response={"id": f"r{n + 1}"})
        await call.model.frame("response.done", response={"id": f"r{n + 1}", "status": "completed"})
    await call.session.shutdown()
    report = await call.end()
    assert [(t.tool, t.status, sum(t.counts)) for t in report.tool_ms] == [("unknown", "error", 3)]
    assert report.fillers == ()


async def test_a_call_resumed_on_a_new_actor_replays_its_turns_and_asks_for_a_resume_line() -> None:
    earlier = [
        Turn(0, "caller", "I crashed my car", AT),
        Turn(1, "agent", "I am sorry to hear that.", AT),
        Turn(2, "tool", "remember(...)", AT),
    ]
    call = Call(attempt=1, earlier=earlier)
    await call.model.open()
    assert ("load_turns", 3) in call.log
    assert call.model.types() == [
        "session.update",
        "conversation.item.create",
        "conversation.item.create",
        "response.create",
    ]
    assert "Caller: I crashed my car" in call.model.sent[0]["session"]["instructions"]
    assert instructions(call.model.sent[-1]) == resume_request()
    await call.session.shutdown()
    await call.end()


async def test_a_reconnected_model_gets_the_conversation_and_finishes_a_cut_off_answer() -> None:
    call = Call()
    await call.live()
    await call.model.frame(
        "conversation.item.input_audio_transcription.completed", item_id="c1", transcript="Hi"
    )
    await call.model.frame("response.created", response={"id": "r1"})
    before = len(call.model.sent)
    await call.model.open(reconnected=True)
    assert call.model.types()[before:] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]
    assert instructions(call.model.sent[-1]) == call_lines.RESUMED_CUT_OFF
    assert [n for n in call.log.names() if n == "load_turns"] == []
    await call.session.shutdown()
    await call.end()


async def test_a_model_refused_before_the_stream_records_the_outcome_then_closes_it() -> None:
    call = Call()
    await call.session.model_gone(True, "401 invalid key")
    await settle()
    assert not call.session.done  # it lets the stream connect, to close it at once
    call.connect()
    call.twilio.start()
    report = await call.end()
    assert report.outcome == "model_failed"
    assert call.twilio.closed == (1000, "call already ended")
    names = call.log.names()
    assert names.index("finish_call") < names.index("twilio_closed") < names.index("report")


async def test_the_model_session_rotates_only_when_nothing_is_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_timers, "TICK_S", 0.01)
    call = Call(config=dataclasses.replace(CONFIG, realtime_session_max_s=0.2))
    await call.live()
    await call.model.frame("response.created", response={"id": "r1"})
    await settle(0.3)
    assert call.model.rotations == 0  # an answer is running
    await call.model.frame("response.done", response={"id": "r1", "status": "completed"})
    await settle(0.05)
    assert call.model.rotations > 0
    await call.session.shutdown()
    await call.end()


async def test_a_failed_rest_hang_up_ends_the_call_from_here_once_the_goodbye_was_heard() -> None:
    call = Call()
    call.control.fail = True
    await call.live()
    await call.model.frame("response.created", response={"id": "r0"})
    await call.model.frame("response.done", response={"id": "r0", "status": "completed"})
    await call.model.frame(
        "response.function_call_arguments.done", call_id="f1", name="end_call", arguments="{}"
    )
    assert instructions(call.model.sent[-1]) == call_lines.GOODBYE
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="AAAA"
    )
    await call.model.frame("response.done", response={"id": "r1", "status": "completed"})
    assert "hang_up" not in call.log.names()  # the goodbye is still playing
    mark = call.twilio.sent[-1]["mark"]["name"]
    call.twilio.push("mark", mark={"name": mark})
    report = await call.end()
    assert report.outcome == "agent_hung_up"
    names = call.log.names()
    assert names.index("hang_up") < names.index("finish_call")
    assert "via REST failed" in call.memory.ends[0].detail


async def test_a_stream_with_a_wrong_token_is_refused_and_the_call_waits_for_the_real_one() -> None:
    call = Call()
    await call.model.open()
    call.connect()
    call.twilio.start(token="forged")
    await settle()
    assert call.twilio.closed == (1008, "invalid stream token")
    assert not call.session.done
    await call.session.shutdown()
    await call.end()


async def test_speech_after_all_sent_audio_played_stops_the_answer_still_being_generated() -> None:
    call = Call()
    await call.live()
    await call.model.frame("response.created", response={"id": "r1"})
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="AAAA" * 100
    )
    await settle()
    for sent in [m for m in call.twilio.sent if m["event"] == "mark"]:
        call.twilio.push("mark", mark=sent["mark"])  # everything sent has played
    await settle()
    await call.model.frame("input_audio_buffer.speech_started", audio_start_ms=10)
    speech = spoken.speak("Wait, I need to change the address on my policy.")
    for i in range(0, len(speech), FRAME_BYTES):
        call.twilio.media(b64(speech[i : i + FRAME_BYTES]))
    await settle(0.2)
    types = call.model.types()
    assert "response.cancel" in types  # r1 is still generating: it is stopped
    # a barge-in: the answer was heard, so it is cut at what was heard and playback cleared
    assert types[types.index("response.cancel") + 1] == "conversation.item.truncate"
    assert call.twilio.events()[-1] == "clear"
    heard = len(call.twilio.sent)
    await call.model.frame(
        "response.output_audio.delta", response_id="r1", item_id="i1", delta="BBBB" * 100
    )
    await settle()
    assert [m["event"] for m in call.twilio.sent[heard:]] == []  # its later audio never plays
    await call.session.shutdown()
    await call.end()
