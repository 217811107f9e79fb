"""The inbound frame budget: real-time audio always passes (with jitter and a stall's catch-up
burst), a flood is caught within the slack, and the budget refills with time."""

from __future__ import annotations

from engine.inbound_rate import FRAMES_PER_S, SLACK_S, FrameBudget


def test_real_time_audio_with_jitter_and_a_catch_up_burst_always_passes() -> None:
    budget = FrameBudget(0.0)
    now = 0.0
    for n in range(50 * 600):  # ten minutes, every frame 20 ms apart, +-8 ms of jitter
        now = n * 0.02 + (0.008 if n % 3 == 0 else -0.008 if n % 3 == 1 else 0.0)
        assert budget.take(max(now, 0.0))
    now += 3.0  # a three-second stall: Twilio then delivers what it held at once
    assert all(budget.take(now) for _ in range(150))


def test_a_flood_is_stopped_within_the_slack() -> None:
    budget = FrameBudget(0.0)
    passed = 0
    for n in range(10_000):  # 537,800 frames in 14 s is ~38 per ms; here 10 per ms
        if not budget.take(n * 0.0001):
            break
        passed += 1
    assert passed <= FRAMES_PER_S * SLACK_S + FRAMES_PER_S  # the slack and a second's share
    assert passed >= FRAMES_PER_S * SLACK_S


def test_the_budget_refills_with_time() -> None:
    budget = FrameBudget(0.0, rate=50.0, slack_s=1.0)
    assert all(budget.take(0.0) for _ in range(50))
    assert not budget.take(0.0)
    assert budget.take(0.1)  # five frames' worth came back
