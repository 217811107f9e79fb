"""Call control through `engine.call_state.step` as scripted timelines: one response at a time,
closing only after the last words were heard, silence and call-length limits, keypad actions,
the transfer keyword fallback, model failure and reconnect.

Timelines are (time, event) in, (time, command) out. Agent audio is base64 of zero bytes of
8 kHz mu-law (8 bytes a millisecond); ticks come once a second, as the call actor sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engine import call_events as ev
from engine import call_state as cs
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.audio import BYTES_PER_MS, b64
from engine.call_control import BUSY_ERROR, CLOSING_TIMEOUT_S, CallRules
from engine.config import DtmfAction, TransferRule
from prompts import call_lines

TOKEN = "media-token-0123456789"
CLAIMS = TransferRule("claims", "+15550100", "our claims team")
FRONT_DESK = TransferRule("front desk", "+15550111", "the front desk")
FALLBACK = "+15550199"

Timeline = Sequence[tuple[float, ev.CallEvent]]
Log = list[tuple[float, ev.Command]]


def run(timeline: Timeline, state: cs.CallState) -> tuple[cs.CallState, Log]:
    """Feed the events in order; collect every command with the time it was produced."""
    out: Log = []
    for now, event in timeline:
        state, commands = cs.step(state, event, now)
        out.extend((now, command) for command in commands)
    return state, out


def live(rules: CallRules | None = None, at: float = 0.0) -> cs.CallState:
    """A call whose stream started at `at`, greeting already measured (no Observe noise)."""
    state, log = run([(at, tw.Start("MZ1", "CA1", "AC1", {"token": TOKEN}))], new(rules))
    assert log == []
    assert state.phase == "live"
    return replace(state, greeted=True)


def new(rules: CallRules | None = None) -> cs.CallState:
    return cs.new_call("CA1", TOKEN, rules)


def audio(response_id: str, item_id: str, ms: int) -> rt.AudioDelta:
    return rt.AudioDelta(response_id, item_id, b64(bytes(ms * BYTES_PER_MS)))


def ticks(first: float, last: float) -> list[tuple[float, ev.CallEvent]]:
    """A tick each second from `first` to `last` inclusive."""
    return [(first + i, ev.Tick()) for i in range(int(last - first) + 1)]


def merged(*parts: Timeline) -> list[tuple[float, ev.CallEvent]]:
    """The events of several timelines in time order (stable: ties keep the given order)."""
    return sorted((item for part in parts for item in part), key=lambda item: item[0])


def speak(state: cs.CallState, at: float, response_id: str, ms: int = 500) -> cs.CallState:
    """The model runs one response with `ms` of audio from `at` (reply latency aside, only the
    chunk and its mark go out); Twilio has not played it yet."""
    state, log = run(
        [
            (at, rt.ResponseCreated(response_id)),
            (at, audio(response_id, f"item-{response_id}", ms)),
            (at + 0.25, rt.ResponseDone(response_id, "completed")),
        ],
        state,
    )
    assert [type(c) for _, c in log if not isinstance(c, ev.Observe)] == [
        ev.SendMedia,
        ev.SendMark,
    ]
    return state


def last_mark(state: cs.CallState) -> tw.Mark:
    return tw.Mark(f"m{state.mark_seq}")


def of_type(log: Log, *kinds: type) -> Log:
    return [(t, c) for t, c in log if isinstance(c, kinds)]


def tool_turn(call_id: str, name: str, output: str) -> ev.RecordTurn:
    return ev.RecordTurn("tool", output, {"call_id": call_id, "name": name})


END_CALL = ev.ToolResult(
    "call-1", "end_call", '{"ok":true}', close="hang_up", say=call_lines.GOODBYE
)
TRANSFER = ev.ToolResult(
    "call-2",
    "transfer_call",
    '{"ok":true,"transferring_to":"our claims team"}',
    close="transfer",
    target=CLAIMS.number,
    say=call_lines.handoff("our claims team"),
)


# --- one response at a time ------------------------------------------------------------------


def test_request_while_idle_creates_a_response_at_once() -> None:
    state, log = run([(1.0, ev.RequestResponse("hello"))], live())
    assert log == [(1.0, ev.CreateResponse("hello"))]
    assert state.response_requested
    assert state.last_request == "hello"
    assert state.queued == ()


def test_request_while_one_runs_waits_for_its_done() -> None:
    state, log = run(
        [
            (1.0, rt.ResponseCreated("r1")),  # the server's own reply to the caller
            (1.5, ev.RequestResponse("queued")),
            (2.0, rt.ResponseDone("r1", "completed")),
        ],
        live(),
    )
    assert log == [(2.0, ev.CreateResponse("queued"))]
    assert state.queued == ()
    assert state.response_requested


def test_request_after_ours_was_sent_but_not_yet_created_waits() -> None:
    state, log = run(
        [
            (1.0, ev.RequestResponse("first")),
            (1.125, ev.RequestResponse("second")),
            (1.25, rt.ResponseCreated("r1")),
            (1.5, ev.RequestResponse("third")),
        ],
        live(),
    )
    assert log == [(1.0, ev.CreateResponse("first"))]
    assert state.queued == ("second", "third")
    assert state.response_id == "r1"
    assert not state.response_requested


def test_queued_requests_drain_one_per_done_in_order() -> None:
    state, log = run(
        [
            (1.0, rt.ResponseCreated("r1")),
            (1.1, ev.RequestResponse("a")),
            (1.2, ev.RequestResponse(None)),
            (1.3, ev.RequestResponse("c")),
            (2.0, rt.ResponseDone("r1", "completed")),
            (2.1, rt.ResponseCreated("r2")),
            (3.0, rt.ResponseDone("r2", "completed")),
            (3.1, rt.ResponseCreated("r3")),
            (4.0, rt.ResponseDone("r3", "cancelled")),
            (4.1, rt.ResponseCreated("r4")),
            (5.0, rt.ResponseDone("r4", "completed")),
        ],
        live(),
    )
    assert log == [
        (2.0, ev.CreateResponse("a")),
        (3.0, ev.CreateResponse(None)),
        (4.0, ev.CreateResponse("c")),
    ]
    assert state.queued == ()
    assert state.response_id is None
    assert not state.response_requested


def test_done_of_a_stale_response_does_not_release_the_queue() -> None:
    state, log = run(
        [
            (1.0, rt.ResponseCreated("r2")),
            (1.5, ev.RequestResponse("waiting")),
            (2.0, rt.ResponseDone("r1", "cancelled")),
        ],
        live(),
    )
    assert log == []
    assert state.queued == ("waiting",)


def test_busy_error_after_our_create_requeues_the_request_first() -> None:
    state, log = run(
        [
            (1.0, ev.RequestResponse("mine")),
            (1.1, ev.RequestResponse("later")),
            (1.2, rt.ServerError(BUSY_ERROR, "Conversation already has an active response", "x")),
        ],
        live(),
    )
    assert log == [(1.0, ev.CreateResponse("mine"))]
    assert state.queued == ("mine", "later")
    assert not state.response_requested
    # The server's own response (created before ours arrived) finishes: ask again, in order.
    state, log = run(
        [
            (2.0, rt.ResponseDone("r0", "completed")),
            (2.1, rt.ResponseCreated("r1")),
            (3.0, rt.ResponseDone("r1", "completed")),
        ],
        state,
    )
    assert log == [(2.0, ev.CreateResponse("mine")), (3.0, ev.CreateResponse("later"))]


def test_busy_error_after_the_servers_response_created_still_requeues() -> None:
    # The order the realtime API actually produces: the server started r0 (voice activity) and
    # said so, then refused our response.create that crossed it on the wire.
    _, log = run(
        [
            (1.0, ev.RequestResponse("mine")),
            (1.05, rt.ResponseCreated("r0")),
            (1.1, rt.ServerError(BUSY_ERROR, "Conversation already has an active response", "x")),
            (2.0, rt.ResponseDone("r0", "completed")),
        ],
        live(),
    )
    assert log == [(1.0, ev.CreateResponse("mine")), (2.0, ev.CreateResponse("mine"))]


def test_busy_error_without_a_request_of_ours_changes_nothing() -> None:
    state = live()
    after, log = run([(1.0, rt.ServerError(BUSY_ERROR, "busy", "invalid_request_error"))], state)
    assert log == []
    assert after is state


# --- closing after the last words were heard ---------------------------------------------------


def test_end_call_says_goodbye_and_hangs_up_once_the_last_mark_is_back() -> None:
    state, log = run([(1.0, END_CALL)], live())
    assert log == [
        (1.0, ev.SendToolOutput("call-1", '{"ok":true}')),
        (1.0, tool_turn("call-1", "end_call", '{"ok":true}')),
        (1.0, ev.CreateResponse(call_lines.GOODBYE)),
    ]
    state, log = run(
        [
            (1.25, rt.ResponseCreated("r2")),
            (1.25, audio("r2", "i2", 500)),
            (1.5, audio("r2", "i2", 500)),
            (1.75, rt.ResponseDone("r2", "completed")),  # all generated, nothing heard yet
            (2.0, ev.Tick()),
            (2.25, tw.Mark("m1")),
        ],
        state,
    )
    assert of_type(log, ev.FinishAfterSpeech, ev.EndCall) == []
    assert [m.name for m in state.pending] == ["m2"]

    state, log = run(
        [
            (2.75, tw.Mark("m2")),  # the caller has heard the whole goodbye
            (3.0, ev.Tick()),
            (3.25, tw.Mark("m2")),
            (4.0, ev.Tick()),
        ],
        state,
    )
    assert log == [(2.75, ev.FinishAfterSpeech("hang_up", ""))]
    assert state.phase == "live"

    state, log = run([(5.0, tw.Stop("CA1")), (5.5, tw.Stop("CA1"))], state)
    assert log == [(5.0, ev.EndCall("agent_hung_up"))]
    assert state.outcome == "agent_hung_up"


def test_goodbye_fully_played_before_its_done_finishes_at_the_done() -> None:
    state, _ = run([(1.0, END_CALL)], live())
    state, log = run(
        [
            (1.25, rt.ResponseCreated("r2")),
            (1.25, audio("r2", "i2", 250)),
            (1.5, tw.Mark("m1")),
            (1.75, rt.ResponseDone("r2", "completed")),
        ],
        state,
    )
    assert of_type(log, ev.FinishAfterSpeech) == [(1.75, ev.FinishAfterSpeech("hang_up", ""))]


def test_tool_result_while_its_response_runs_queues_the_goodbye_until_done() -> None:
    state, log = run([(1.0, rt.ResponseCreated("r1")), (1.25, END_CALL)], live())
    assert log == [
        (1.25, ev.SendToolOutput("call-1", '{"ok":true}')),
        (1.25, tool_turn("call-1", "end_call", '{"ok":true}')),
    ]
    state, log = run([(1.5, rt.ResponseDone("r1", "completed"))], state)
    assert log == [(1.5, ev.CreateResponse(call_lines.GOODBYE))]
    assert state.closing is not None
    assert not state.closing.fired


def test_agent_audio_of_an_earlier_response_still_playing_holds_the_hang_up() -> None:
    state = speak(live(), 1.0, "r1", ms=3000)  # a long answer, still playing
    state, log = run([(1.5, END_CALL)], state)
    state = speak(state, 1.5, "r2", ms=500)  # the goodbye, queued behind nothing
    state, log = run([(4.0, tw.Mark("m1"))], state)
    assert log == []
    state, log = run([(4.5, tw.Mark("m2"))], state)
    assert log == [(4.5, ev.FinishAfterSpeech("hang_up", ""))]


def test_closing_fires_after_the_timeout_when_marks_never_return() -> None:
    state, _ = run([(1.0, END_CALL)], live())
    state = speak(state, 1.25, "r2")
    state, log = run(ticks(2.0, 40.0), state)
    assert CLOSING_TIMEOUT_S == 20.0
    assert log == [(21.0, ev.FinishAfterSpeech("hang_up", ""))]
    assert [m.name for m in state.pending] == ["m1"]
    _, log = run([(41.0, tw.Stop("CA1"))], state)
    assert log == [(41.0, ev.EndCall("agent_hung_up"))]


def test_closing_fires_after_the_timeout_when_the_goodbye_never_starts() -> None:
    state, _ = run([(1.0, END_CALL)], live())
    state, log = run(ticks(2.0, 30.0), state)
    assert log == [(21.0, ev.FinishAfterSpeech("hang_up", ""))]


def test_finish_failed_ends_the_call_as_agent_hung_up_with_the_detail() -> None:
    state, _ = run([(1.0, END_CALL)], live())
    state = speak(state, 1.25, "r2")
    state, log = run(
        [
            (2.0, last_mark(state)),
            (2.5, ev.FinishFailed("hang_up via REST failed: 503")),
            (3.0, tw.Stop("CA1")),
        ],
        state,
    )
    assert log == [
        (2.0, ev.FinishAfterSpeech("hang_up", "")),
        (2.5, ev.EndCall("agent_hung_up", "hang_up via REST failed: 503")),
    ]
    assert state.phase == "ended"


def test_finish_settled_ends_the_call_when_twilio_did_not() -> None:
    state, _ = run([(1.0, END_CALL)], live())
    state = speak(state, 1.25, "r2")
    state, log = run(
        [(2.0, last_mark(state)), (7.0, ev.FinishSettled()), (7.5, tw.Stop("CA1"))], state
    )
    assert log == [
        (2.0, ev.FinishAfterSpeech("hang_up", "")),
        (7.0, ev.EndCall("agent_hung_up")),
    ]


def test_caller_hanging_up_during_the_goodbye_is_a_caller_hang_up() -> None:
    state, _ = run([(1.0, END_CALL)], live())
    state = speak(state, 1.25, "r2")
    state, log = run([(1.5, tw.Stop("CA1")), (2.0, last_mark(state))], state)
    assert log == [(1.5, ev.EndCall("caller_hung_up"))]


def test_transfer_tool_hands_off_then_the_stop_records_the_transfer() -> None:
    state, log = run([(1.0, TRANSFER)], live(CallRules(transfers=(CLAIMS,))))
    assert log == [
        (1.0, ev.SendToolOutput("call-2", TRANSFER.output)),
        (1.0, tool_turn("call-2", "transfer_call", TRANSFER.output)),
        (1.0, ev.CreateResponse(call_lines.handoff("our claims team"))),
    ]
    state = speak(state, 1.25, "r2")
    state, log = run([(1.5, ev.Tick()), (2.0, last_mark(state)), (3.0, tw.Stop("CA1"))], state)
    assert log == [
        (2.0, ev.FinishAfterSpeech("transfer", "+15550100")),
        (3.0, ev.EndCall("transferred", "", "+15550100")),
    ]
    assert state.outcome == "transferred"
    assert state.transferred_to == "+15550100"


def test_failed_transfer_redirect_is_recorded_for_the_connect_action_to_dial() -> None:
    # The REST redirect failed: the outcome stays "transferred" with the number, so the
    # <Connect action> handler dials it instead (admin_api/webhooks.py).
    state, _ = run([(1.0, TRANSFER)], live(CallRules(transfers=(CLAIMS,))))
    state = speak(state, 1.25, "r2")
    _, log = run([(2.0, last_mark(state)), (2.5, ev.FinishFailed("transfer failed"))], state)
    assert log == [
        (2.0, ev.FinishAfterSpeech("transfer", "+15550100")),
        (2.5, ev.EndCall("transferred", "transfer failed", "+15550100")),
    ]


def test_a_second_close_while_closing_is_ignored() -> None:
    state, _ = run([(1.0, END_CALL)], live(CallRules(transfers=(CLAIMS,))))
    state, log = run([(1.1, TRANSFER)], state)
    assert log == [
        (1.1, ev.SendToolOutput("call-2", TRANSFER.output)),
        (1.1, tool_turn("call-2", "transfer_call", TRANSFER.output)),
    ]
    state = speak(state, 1.25, "r2")
    _, log = run([(2.0, last_mark(state)), (3.0, tw.Stop("CA1"))], state)
    assert log == [
        (2.0, ev.FinishAfterSpeech("hang_up", "")),
        (3.0, ev.EndCall("agent_hung_up")),
    ]


def test_close_after_speech_event_starts_a_closing() -> None:
    state, log = run(
        [(1.0, ev.CloseAfterSpeech("hang_up", call_lines.GOODBYE, reason="operator"))], live()
    )
    assert log == [(1.0, ev.CreateResponse(call_lines.GOODBYE))]
    assert state.closing is not None
    assert (state.closing.kind, state.closing.reason, state.closing.since) == (
        "hang_up",
        "operator",
        1.0,
    )


def test_a_tool_result_without_close_asks_for_a_response() -> None:
    result = ev.ToolResult("call-3", "get_current_time", '{"time":"6:30 PM"}')
    _, log = run([(1.0, result)], live())
    assert log == [
        (1.0, ev.SendToolOutput("call-3", '{"time":"6:30 PM"}')),
        (1.0, tool_turn("call-3", "get_current_time", '{"time":"6:30 PM"}')),
        (1.0, ev.CreateResponse(None)),
    ]


# --- silence --------------------------------------------------------------------------------

STILL_THERE: list[ev.Command] = [
    ev.RecordTurn("system", "silence: asked if the caller is still there"),
    ev.CreateResponse(call_lines.STILL_THERE),
]
SILENCE_END: list[ev.Command] = [
    ev.RecordTurn("system", "silence: ending the call"),
    ev.CreateResponse(call_lines.SILENCE_GOODBYE),
]


def at(t: float, commands: list[ev.Command]) -> Log:
    return [(t, c) for c in commands]


def test_silence_asks_if_the_caller_is_still_there_then_says_goodbye() -> None:
    state, log = run(ticks(1.0, 11.0), live(CallRules(silence_s=10)))
    # Quiet from the first tick (1.0); ten seconds later the agent asks.
    assert log == at(11.0, STILL_THERE)

    # The question plays (11.5-12.5) and is heard; a second quiet period follows.
    state = speak(state, 11.5, "r1", ms=1000)
    state, log = run(merged([(12.75, last_mark(state))], ticks(12.0, 23.0)), state)
    assert log == at(23.0, SILENCE_END)
    assert state.closing is not None
    assert state.closing.reason == "silence"

    state = speak(state, 23.5, "r2", ms=1000)
    state, log = run(merged([(25.0, last_mark(state))], ticks(24.0, 30.0)), state)
    assert log == [(25.0, ev.FinishAfterSpeech("hang_up", ""))]
    _, log = run([(31.0, tw.Stop("CA1"))], state)
    assert log == [(31.0, ev.EndCall("agent_hung_up"))]


def test_caller_speech_after_the_question_starts_over_with_the_question() -> None:
    state, _ = run(ticks(1.0, 11.0), live(CallRules(silence_s=10)))
    state = speak(state, 11.5, "r1", ms=1000)
    state, log = run(
        merged(
            [
                (12.75, last_mark(state)),
                (14.0, rt.SpeechStarted(0, "u1")),
                (15.5, rt.SpeechStopped(1500)),
                (15.5, rt.ResponseCreated("r2")),
                (15.75, rt.ResponseDone("r2", "completed")),
            ],
            ticks(12.0, 26.0),
        ),
        state,
    )
    # Quiet again from the tick at 16.0: the second period asks again instead of hanging up.
    assert log == [(15.5, ev.CreateResponse(None)), *at(26.0, STILL_THERE)]


def test_no_silence_counted_while_the_caller_speaks() -> None:
    _, log = run(
        merged(
            [
                (0.5, rt.SpeechStarted(0, "u1")),
                (30.5, rt.SpeechStopped(30000)),
                (30.5, rt.ResponseCreated("r1")),
                (30.75, rt.ResponseDone("r1", "completed")),
            ],
            ticks(1.0, 41.0),
        ),
        live(CallRules(silence_s=10)),
    )
    assert log == [(30.5, ev.CreateResponse(None)), *at(41.0, STILL_THERE)]


def test_no_silence_counted_while_the_agent_is_heard() -> None:
    state = speak(live(CallRules(silence_s=10)), 0.5, "r1", ms=15000)
    state, log = run(merged([(15.5, last_mark(state))], ticks(1.0, 26.0)), state)
    assert log == at(26.0, STILL_THERE)


def test_no_silence_counted_while_a_response_runs_or_is_waited_for() -> None:
    _, log = run(
        merged(
            [
                (0.5, ev.RequestResponse("hello")),  # sent, never created (slow model)
                (15.0, rt.ResponseCreated("r1")),
                (20.5, rt.ResponseDone("r1", "completed")),
            ],
            ticks(1.0, 31.0),
        ),
        live(CallRules(silence_s=10)),
    )
    assert log == [(0.5, ev.CreateResponse("hello")), *at(31.0, STILL_THERE)]


def test_a_short_utterance_between_two_ticks_restarts_the_silence_period() -> None:
    # Quiet from the tick at 1.0; the caller says something between the ticks at 5 and 6
    # (and the reply asked for makes no sound): silence counts again from the tick at 6.0.
    _, log = run(
        merged(
            [
                (5.25, rt.SpeechStarted(0, "u1")),
                (5.75, rt.SpeechStopped(500)),
                (5.75, rt.ResponseCreated("r1")),
                (5.875, rt.ResponseDone("r1", "completed")),
            ],
            ticks(1.0, 16.0),
        ),
        live(CallRules(silence_s=10)),
    )
    assert log == [(5.75, ev.CreateResponse(None)), *at(16.0, STILL_THERE)]


def test_no_silence_rule_before_the_stream_started() -> None:
    _, log = run(ticks(1.0, 60.0), new(CallRules(silence_s=10)))
    assert log == []


# --- call length ------------------------------------------------------------------------------


def test_time_limit_wraps_up_once_at_the_first_tick_past_the_limit() -> None:
    rules = CallRules(silence_s=1000, max_call_s=60)
    steps = [(2.5 + i, ev.Tick()) for i in range(90)]  # 2.5 ... 91.5
    state, log = run(steps, live(rules, at=2.0))
    # 62.5 is the first tick 60 s or more after the start at 2.0; the wrap-up never starts
    # playing here, so the closing timeout hangs up 20 s later.
    assert log == [
        (62.5, ev.CreateResponse(call_lines.TIME_LIMIT)),
        (82.5, ev.FinishAfterSpeech("hang_up", "")),
    ]
    assert state.closing is not None
    assert state.closing.reason == "max_duration"


def test_time_limit_waits_for_the_running_response_then_hangs_up_after_it_is_heard() -> None:
    rules = CallRules(silence_s=1000, max_call_s=60)
    state, log = run(
        [(59.0, rt.ResponseCreated("r1")), (60.0, ev.Tick()), (61.0, ev.Tick())], live(rules)
    )
    assert log == []
    state, log = run([(61.5, rt.ResponseDone("r1", "completed"))], state)
    assert log == [(61.5, ev.CreateResponse(call_lines.TIME_LIMIT))]
    state = speak(state, 62.0, "r2")
    state, log = run([(62.5, ev.Tick()), (63.0, last_mark(state)), (64.0, ev.Tick())], state)
    assert log == [(63.0, ev.FinishAfterSpeech("hang_up", ""))]


# --- keypad ----------------------------------------------------------------------------------

KEYPAD_RULES = CallRules(
    dtmf=(("0", DtmfAction("transfer", "front desk")), ("9", DtmfAction("hang_up"))),
    transfers=(CLAIMS, FRONT_DESK),
)


def test_unmapped_digit_tells_the_model_and_asks_for_a_response() -> None:
    state, log = run([(1.0, tw.Dtmf("5"))], live(KEYPAD_RULES))
    assert log == [
        (1.0, ev.RecordTurn("dtmf", "5")),
        (1.0, ev.SendUserText("The caller pressed 5 on their keypad.")),
        (1.0, ev.CreateResponse(None)),
    ]
    assert state.closing is None


def test_digit_mapped_to_a_transfer_hands_off_to_the_rule_number() -> None:
    state, log = run([(1.0, tw.Dtmf("0"))], live(KEYPAD_RULES))
    assert log == [
        (1.0, ev.RecordTurn("dtmf", "0")),
        (1.0, ev.CreateResponse(call_lines.handoff("the front desk"))),
    ]
    state = speak(state, 1.25, "r1")
    _, log = run([(2.0, last_mark(state)), (3.0, tw.Stop("CA1"))], state)
    assert log == [
        (2.0, ev.FinishAfterSpeech("transfer", "+15550111")),
        (3.0, ev.EndCall("transferred", "", "+15550111")),
    ]


def test_digit_mapped_to_a_transfer_without_its_rule_only_tells_the_model() -> None:
    rules = replace(KEYPAD_RULES, transfers=(CLAIMS,))
    state, log = run([(1.0, tw.Dtmf("0"))], live(rules))
    assert log == [
        (1.0, ev.RecordTurn("dtmf", "0")),
        (1.0, ev.SendUserText("The caller pressed 0 on their keypad.")),
        (1.0, ev.CreateResponse(None)),
    ]
    assert state.closing is None


def test_digit_mapped_to_hang_up_says_goodbye_and_hangs_up() -> None:
    state, log = run([(1.0, tw.Dtmf("9"))], live(KEYPAD_RULES))
    assert log == [
        (1.0, ev.RecordTurn("dtmf", "9")),
        (1.0, ev.CreateResponse(call_lines.GOODBYE)),
    ]
    state = speak(state, 1.25, "r1")
    _, log = run([(2.0, last_mark(state)), (3.0, tw.Stop("CA1"))], state)
    assert log == [
        (2.0, ev.FinishAfterSpeech("hang_up", "")),
        (3.0, ev.EndCall("agent_hung_up")),
    ]


def test_digits_before_the_stream_is_live_do_nothing() -> None:
    state = new(KEYPAD_RULES)
    after, log = run([(0.5, tw.Dtmf("0")), (0.75, tw.Dtmf("9")), (1.0, tw.Dtmf("5"))], state)
    assert log == []
    assert after is state


# --- transfer keyword fallback ----------------------------------------------------------------


def asked_for_claims(state: cs.CallState) -> cs.CallState:
    """The caller asks for claims; the model's reply r1 starts before the transcript arrives."""
    state, log = run(
        [
            (1.0, rt.SpeechStarted(0, "u1")),
            (2.0, rt.SpeechStopped(1000)),
            (2.125, rt.ResponseCreated("r1")),
            (2.25, rt.CallerTranscript("u1", "can I talk to claims please")),
        ],
        state,
    )
    assert log == [
        (2.0, ev.CreateResponse(None)),
        (2.25, ev.RecordTurn("caller", "can I talk to claims please", {"item_id": "u1"})),
    ]
    assert state.transfer_hint == "claims"
    return state


def test_keyword_fallback_transfers_when_the_model_does_not() -> None:
    state = asked_for_claims(live(CallRules(transfers=(CLAIMS, FRONT_DESK))))
    state, log = run([(3.0, rt.ResponseDone("r1", "completed"))], state)
    assert log == [
        (3.0, ev.CreateResponse(call_lines.handoff("our claims team"))),
        (3.0, ev.RecordTurn("system", "transfer to claims (keyword match)")),
    ]
    state = speak(state, 3.25, "r2")
    _, log = run([(4.0, last_mark(state)), (5.0, tw.Stop("CA1"))], state)
    assert log == [
        (4.0, ev.Observe("turn_heard_ms", 1500.0)),  # the caller stopped at 2.0
        (4.0, ev.FinishAfterSpeech("transfer", "+15550100")),
        (5.0, ev.EndCall("transferred", "", "+15550100")),
    ]


def test_keyword_fallback_does_not_act_on_a_cancelled_reply() -> None:
    state = asked_for_claims(live(CallRules(transfers=(CLAIMS,))))
    state, log = run(
        [(3.0, rt.ResponseDone("r1", "cancelled")), (4.0, rt.ResponseDone("r2", "completed"))],
        state,
    )
    assert log == []
    assert state.closing is None
    assert state.transfer_hint is None


def test_no_keyword_fallback_after_the_model_transferred() -> None:
    state = asked_for_claims(live(CallRules(transfers=(CLAIMS,))))
    state, log = run([(2.5, TRANSFER), (3.0, rt.ResponseDone("r1", "completed"))], state)
    assert log == [
        (2.5, ev.SendToolOutput("call-2", TRANSFER.output)),
        (2.5, tool_turn("call-2", "transfer_call", TRANSFER.output)),
        (3.0, ev.CreateResponse(call_lines.handoff("our claims team"))),
    ]
    state = speak(state, 3.25, "r2")
    _, log = run([(4.0, last_mark(state)), (5.0, tw.Stop("CA1"))], state)
    assert log == [
        (4.0, ev.Observe("turn_heard_ms", 1500.0)),  # the caller stopped at 2.0
        (4.0, ev.FinishAfterSpeech("transfer", "+15550100")),
        (5.0, ev.EndCall("transferred", "", "+15550100")),
    ]


def test_tool_result_after_the_fallback_began_does_not_close_twice() -> None:
    # The actor runs tools in a task, so response.done of the reply that called transfer_call
    # can be stepped before the tool's result: the fallback starts first, the tool joins it.
    state = asked_for_claims(live(CallRules(transfers=(CLAIMS,))))
    state, log = run([(3.0, rt.ResponseDone("r1", "completed")), (3.05, TRANSFER)], state)
    assert log == [
        (3.0, ev.CreateResponse(call_lines.handoff("our claims team"))),
        (3.0, ev.RecordTurn("system", "transfer to claims (keyword match)")),
        (3.05, ev.SendToolOutput("call-2", TRANSFER.output)),
        (3.05, tool_turn("call-2", "transfer_call", TRANSFER.output)),
    ]
    state = speak(state, 3.25, "r2")
    _, log = run([(4.0, last_mark(state)), (4.5, ev.Tick())], state)
    assert log == [
        (4.0, ev.Observe("turn_heard_ms", 1500.0)),
        (4.0, ev.FinishAfterSpeech("transfer", "+15550100")),
    ]


def test_a_transfer_the_model_called_is_left_to_it_with_its_reason() -> None:
    # The reply that called transfer_call ends before the tool's result: the call was the
    # model's, so the fallback does not take over (and the model's target and reason stand).
    state = asked_for_claims(live(CallRules(transfers=(CLAIMS, FRONT_DESK))))
    to_desk = ev.ToolResult(
        "call-2", "transfer_call", '{"ok":true}', "transfer", "+15550111", "One moment.", why="bill"
    )
    state, log = run(
        [
            (2.5, rt.FunctionCall("call-2", "transfer_call", '{"target": "front desk"}')),
            (3.0, rt.ResponseDone("r1", "completed")),
            (3.05, to_desk),
        ],
        state,
    )
    assert log == [
        (3.05, ev.SendToolOutput("call-2", '{"ok":true}')),
        (3.05, tool_turn("call-2", "transfer_call", '{"ok":true}')),
        (3.05, ev.CreateResponse("One moment.")),
    ]
    state = speak(state, 3.25, "r2")
    _, log = run([(4.0, last_mark(state)), (4.5, ev.Tick())], state)
    assert (4.0, ev.FinishAfterSpeech("transfer", "+15550111", "bill")) in log


def test_no_keyword_fallback_without_rules_or_without_a_request() -> None:
    for rules, text in [
        (CallRules(), "can I talk to claims please"),
        (CallRules(transfers=(CLAIMS,)), "I have a question about my policy"),
    ]:
        state, _ = run([(1.0, rt.CallerTranscript("u1", text))], live(rules))
        assert state.transfer_hint is None
        _, log = run([(2.0, rt.ResponseDone("r1", "completed"))], state)
        assert log == []


def test_transcripts_during_a_closing_are_not_matched() -> None:
    state, _ = run([(1.0, END_CALL)], live(CallRules(transfers=(CLAIMS,))))
    state, _ = run([(1.5, rt.CallerTranscript("u1", "wait, let me talk to claims"))], state)
    assert state.transfer_hint is None


# --- the model fails or reconnects -------------------------------------------------------------


def test_model_failure_sends_the_caller_to_the_fallback_number() -> None:
    state, log = run(
        [(1.0, ev.ModelClosed(permanent=True, reason="401 invalid key")), (2.0, tw.Stop("CA1"))],
        live(CallRules(fallback_number=FALLBACK)),
    )
    assert log == [(1.0, ev.EndCall("model_failed", "401 invalid key", "+15550199"))]
    assert state.outcome == "model_failed"
    assert state.transferred_to == "+15550199"


def test_model_failure_without_a_fallback_number_just_ends() -> None:
    _, log = run([(1.0, ev.ModelClosed(permanent=False, reason="3 reconnects failed"))], live())
    assert log == [(1.0, ev.EndCall("model_failed", "3 reconnects failed", None))]


def test_model_failure_after_a_transfer_fired_keeps_the_transfer_target() -> None:
    state, _ = run(
        [(1.0, TRANSFER)], live(CallRules(transfers=(CLAIMS,), fallback_number=FALLBACK))
    )
    state = speak(state, 1.25, "r2")
    _, log = run([(2.0, last_mark(state)), (3.0, ev.ModelClosed(False, "socket dropped"))], state)
    assert log == [
        (2.0, ev.FinishAfterSpeech("transfer", "+15550100")),
        (3.0, ev.EndCall("transferred", "socket dropped", "+15550100")),
    ]


def playing_two_items() -> cs.CallState:
    """An answer r1 (item i1, 1500 ms in two chunks) is playing when the model socket drops."""
    state, _ = run(
        [
            (1.0, rt.ResponseCreated("r1")),
            (1.0, audio("r1", "i1", 1000)),
            (1.25, audio("r1", "i1", 500)),
        ],
        live(),
    )
    return state


def test_reconnect_finishes_a_cut_off_answer_and_keeps_playback() -> None:
    state, log = run([(1.5, ev.ModelReconnected())], playing_two_items())
    # r1 was still generating when the socket dropped: finish it, do not repeat it.
    assert log == [(1.5, ev.CreateResponse(call_lines.RESUMED_CUT_OFF))]
    assert state.response_id is None
    assert state.item_bytes == ()
    assert [(m.name, m.item_id, m.start_b, m.end_b) for m in state.pending] == [
        ("m1", "", 0, 8000),
        ("m2", "", 8000, 12000),
    ]
    # The continuation runs on the new session; another request waits for it.
    state, log = run([(1.55, rt.ResponseCreated("n1")), (1.6, ev.RequestResponse(None))], state)
    assert log == []
    _, log = run([(1.9, rt.ResponseDone("n1", "completed"))], state)
    assert log == [(1.9, ev.CreateResponse(None))]


def test_barge_in_after_a_reconnect_clears_without_truncating_old_items() -> None:
    state, _ = run([(1.5, ev.ModelReconnected())], playing_two_items())
    _, log = run([(1.75, rt.SpeechStarted(0, "u2"))], state)
    assert log == [(1.75, ev.ClearPlayback()), (1.75, ev.Observe("barge_in", 1))]


def test_barge_in_after_a_reconnect_truncates_only_the_new_session_items() -> None:
    state, _ = run([(1.5, ev.ModelReconnected())], playing_two_items())
    state, log = run(
        [
            (1.6, rt.ResponseCreated("r9")),
            (1.625, audio("r9", "i9", 250)),
            (1.75, rt.SpeechStarted(0, "u2")),
        ],
        state,
    )
    assert commands_after(log, 1.75) == [
        ev.ClearPlayback(),
        ev.CancelResponse("r9"),
        ev.Truncate("i9", 0),
        ev.Observe("barge_in", 1),
    ]
    assert state.pending == ()


def commands_after(log: Log, t: float) -> list[ev.Command]:
    return [c for when, c in log if when >= t]


def test_a_request_queued_when_the_model_dropped_goes_out_after_the_reconnect() -> None:
    state, _ = run([(1.3, END_CALL)], playing_two_items())
    assert state.queued == (call_lines.GOODBYE,)
    _, log = run([(1.5, ev.ModelReconnected())], state)
    assert log == [(1.5, ev.CreateResponse(call_lines.GOODBYE))]
