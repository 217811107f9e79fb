"""Turn-taking as scripted timelines: when caller speech over the agent is an interruption,
when the caller's turn is answered, and each answer's latency; the speech meter on real speech
made by espeak-ng and a cough made by sox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.audio import BYTES_PER_MS, FRAME_BYTES, b64
from engine.call_control import CallRules
from engine.sim import spoken
from engine.speech_meter import SpeechMeter
from engine.turn_taking import is_backchannel

TOKEN = "media-token-0123456789"
RULES = CallRules(min_interrupt_ms=500)
Log = list[tuple[float, ev.Command]]


def run(
    timeline: Sequence[tuple[float, ev.CallEvent]], state: cs.CallState
) -> tuple[cs.CallState, Log]:
    out: Log = []
    for now, event in timeline:
        state, commands = cs.step(state, event, now)
        out.extend((now, c) for c in commands)
    return state, out


def talking(rules: CallRules = RULES) -> cs.CallState:
    """Live since 0.0; response r1 is generating and 2 s of item i1 were sent at 0.0."""
    state, _ = run(
        [(0.0, tw.Start("MZ1", "CA1", "AC1", {"token": TOKEN}))], cs.new_call("CA1", TOKEN, rules)
    )
    state, _ = run(
        [(0.0, rt.ResponseCreated("r1")), (0.0, rt.AudioDelta("r1", "i1", b64(bytes(16000))))],
        replace(state, greeted=True),
    )
    return state


def kinds(log: Log) -> list[type]:
    return [type(c) for _, c in log]


def test_backchannels_in_english_and_spanish() -> None:
    for text in (
        "Uh-huh.",
        "mm-hmm",
        "Yeah, yeah.",
        "okay",
        "Sí.",
        "ajá",
        "",
        "...",
        "Right, sure.",
    ):
        assert is_backchannel(text), text
    for text in ("Wait.", "yeah but I need to change my address", "No.", "Stop please", "Espere"):
        assert not is_backchannel(text), text


def test_speech_over_the_agent_is_metered_not_an_interruption() -> None:
    state, log = run([(0.5, rt.SpeechStarted(0, "u1"))], talking())
    assert log == [(0.5, ev.MeterSpeech(500))]
    assert state.pending
    assert state.turn.contested
    # The agent keeps talking: its next audio goes out.
    state, log = run([(0.6, rt.AudioDelta("r1", "i1", b64(bytes(800))))], state)
    assert kinds(log) == [ev.SendMedia, ev.SendMark]


def test_long_speech_over_the_agent_interrupts_at_what_was_heard() -> None:
    state, _ = run([(0.5, rt.SpeechStarted(0, "u1"))], talking())
    state, log = run([(0.875, ev.CallerSpeechLong())], state)
    assert [c for _, c in log] == [
        ev.ClearPlayback(),
        ev.CancelResponse("r1"),
        ev.Truncate("i1", 875),
        ev.Observe("barge_in", 1),
    ]
    # When the caller stops, their turn is answered.
    state, log = run(
        [(2.0, rt.ResponseDone("r1", "cancelled")), (2.5, rt.SpeechStopped(2400, "u1"))], state
    )
    assert [c for _, c in log] == [ev.CreateResponse(None)]


def test_an_uh_huh_leaves_the_agent_talking() -> None:
    state, log = run(
        [
            (0.5, rt.SpeechStarted(0, "u1")),
            (1.0, rt.SpeechStopped(900, "u1")),
            (1.25, rt.CallerTranscript("u1", "Uh-huh.")),
            (1.5, rt.AudioDelta("r1", "i1", b64(bytes(800)))),
        ],
        talking(),
    )
    assert [c for _, c in log] == [
        ev.MeterSpeech(500),
        ev.MeterSpeech(0),
        ev.RecordTurn("caller", "Uh-huh.", {"item_id": "u1"}),
        ev.Observe("backchannel_kept_talking", 1),
        ev.SendMedia(b64(bytes(800))),
        ev.SendMark("m2"),
    ]
    assert state.cancelled == frozenset()


def test_a_short_real_word_interrupts_once_transcribed_and_is_answered() -> None:
    state, log = run(
        [
            (0.5, rt.SpeechStarted(0, "u1")),
            (0.75, rt.SpeechStopped(650, "u1")),
            (1.0, rt.CallerTranscript("u1", "Wait.")),
        ],
        talking(),
    )
    assert [c for t, c in log if t == 1.0] == [
        ev.RecordTurn("caller", "Wait.", {"item_id": "u1"}),
        ev.ClearPlayback(),
        ev.CancelResponse("r1"),
        ev.Truncate("i1", 1000),
        ev.Observe("barge_in", 1),
    ]
    # r1 is still running: the answer is asked for once it is done.
    state, log = run([(1.125, rt.ResponseDone("r1", "cancelled"))], state)
    assert [c for _, c in log] == [ev.CreateResponse(None)]


def test_a_backchannel_after_the_agent_finished_is_answered() -> None:
    # "Yeah" overlapped the end of the agent's question; by its transcript all was heard.
    state, _ = run(
        [(1.75, rt.SpeechStarted(0, "u1")), (1.9, rt.ResponseDone("r1", "completed"))], talking()
    )
    state, log = run(
        [
            (2.0, rt.SpeechStopped(1950, "u1")),
            (2.1, tw.Mark("m1")),
            (2.25, rt.CallerTranscript("u1", "Yeah.")),
        ],
        state,
    )
    assert [c for _, c in log if not isinstance(c, ev.RecordTurn)] == [
        ev.MeterSpeech(0),
        ev.CreateResponse(None),
    ]


def test_speech_metered_long_after_the_agent_finished_interrupts_nothing() -> None:
    state, _ = run(
        [
            (0.5, rt.SpeechStarted(0, "u1")),
            (0.6, rt.ResponseDone("r1", "completed")),
            (0.7, tw.Mark("m1")),
        ],
        talking(),
    )
    _, log = run([(0.9, ev.CallerSpeechLong())], state)
    assert log == []


def test_min_interrupt_zero_interrupts_at_once() -> None:
    _, log = run([(0.5, rt.SpeechStarted(0, "u1"))], talking(CallRules()))
    assert kinds(log) == [ev.ClearPlayback, ev.CancelResponse, ev.Truncate, ev.Observe]


def test_an_answer_latency_is_broken_down() -> None:
    state, _ = run(
        [(0.0, tw.Start("MZ1", "CA1", "AC1", {"token": TOKEN}))], cs.new_call("CA1", TOKEN, RULES)
    )
    state = replace(state, greeted=True)
    state, log = run(
        [
            (1.0, rt.SpeechStarted(0, "u1")),
            (2.0, rt.SpeechStopped(1900, "u1")),
            (2.125, rt.ResponseCreated("r1")),
            (2.5, rt.AudioDelta("r1", "i1", b64(bytes(100 * BYTES_PER_MS)))),
            (2.75, tw.Mark("m1")),
            (3.0, rt.AgentTranscript("r1", "i1", "Sure.")),
        ],
        state,
    )
    observed = {c.metric: c.value for _, c in log if isinstance(c, ev.Observe)}
    assert observed == {"turn_model_ms": 500.0, "turn_ms": 500.0, "turn_heard_ms": 650.0}
    assert log[-1][1] == ev.RecordTurn(
        "agent",
        "Sure.",
        {
            "item_id": "i1",
            "latency_ms": 500.0,
            "model_ms": 500.0,
            "sent_ms": 500.0,
            "heard_ms": 650.0,
        },
    )


# --- the speech meter on real audio -------------------------------------------------------------

ESPEAK_SET = {
    "uh-huh": False,
    "mm-hmm": False,
    "yeah": False,
    "okay": False,
    "sí": False,
    "cough": False,
    "Wait, I need to change the address on my policy.": True,
}


def frames_of(audio: bytes) -> list[str]:
    return [b64(audio[i : i + FRAME_BYTES]) for i in range(0, len(audio), FRAME_BYTES)]


def interrupts(audio: bytes, min_ms: int) -> bool:
    meter = SpeechMeter()
    meter.arm(min_ms)
    return any(meter.feed(frame) for frame in frames_of(audio))


def sample(name: str) -> bytes:
    if name == "cough":
        return spoken.cough()
    return spoken.speak(name, "es" if name == "sí" else "en")


@pytest.mark.parametrize(("name", "real"), ESPEAK_SET.items())
def test_only_real_speech_reaches_the_minimum(name: str, real: bool) -> None:
    audio = sample(name)
    assert interrupts(audio, 1)  # every one of them is loud enough to start a turn
    # The tenant default: espeak's drawn-out "mm-hmm" has 400 ms of voice, so 400 would cut
    # the agent off on it.
    assert interrupts(audio, 500) is real


def test_the_meter_fires_once_and_ignores_silence_and_garbage() -> None:
    meter = SpeechMeter()
    assert not meter.feed(b64(bytes(FRAME_BYTES)))  # unarmed
    meter.arm(40)
    assert not meter.feed(b64(b"\xff" * FRAME_BYTES))  # mu-law silence
    assert not meter.feed("not base64!")
    loud = frames_of(spoken.speak("hello there"))
    fired = [meter.feed(f) for f in loud]
    assert fired.count(True) == 1
    assert not meter.armed
