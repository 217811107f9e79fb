"""TwiML documents the engine answers with, built with the official VoiceResponse. Pure."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Connect, Dial, Gather, Start, VoiceResponse

NOT_IN_SERVICE = "We're sorry, the number you have dialed is not in service. Goodbye."
BUSY = (
    "Thank you for calling. All of our lines are busy right now. "
    "Please call back in a few minutes. Goodbye."
)
OVERFLOW_TRANSFER = (
    "Thank you for calling. All of our lines are busy right now, so let me connect you with "
    "someone at the agency."
)
UNAVAILABLE = "We're sorry, we can't take your call right now. Please try again later. Goodbye."
MODEL_APOLOGY = (
    "We're sorry, our assistant is having technical trouble and can't continue this call. "
    "Please call back in a few minutes. Goodbye."
)
MODEL_HANDOFF = (
    "We're sorry, our assistant is having technical trouble. Let me connect you with someone "
    "at the agency."
)
STREAM_LOST_APOLOGY = "We're sorry, we lost the connection. Please call back. Goodbye."


def stream(
    *,
    media_url: str,
    token: str,
    action_url: str,
    status_url: str,
    recording_callback: str | None = None,
) -> str:
    """Optionally start recording, then connect the bidirectional media stream."""
    response = VoiceResponse()
    if recording_callback is not None:
        start = Start()
        start.recording(
            recording_status_callback=recording_callback,
            recording_status_callback_event="in-progress completed absent",
            channels="dual",
        )
        response.append(start)
    connect = Connect(action=action_url)
    media = connect.stream(url=media_url, status_callback=status_url)
    media.parameter(name="token", value=token)
    response.append(connect)
    return str(response)


def dial(number: str, *, action_url: str, say_first: str | None = None) -> str:
    """Connect the caller to `number`; `action_url` decides what follows (a fallback when the
    dial fails)."""
    response = VoiceResponse()
    if say_first:
        response.say(say_first)
    response.dial(number, action=action_url, timeout=25)
    return str(response)


TRANSFER_FAILED = (
    "We're sorry, nobody could take your call right now. Please call back later. Goodbye."
)


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def overflow(fallback_number: str | None, *, action_url: str) -> str:
    """A call the engine has no room for: to the tenant's fallback number when it has one
    (the dial's action apologises if nobody answers), else the polite busy message."""
    if fallback_number:
        return dial(fallback_number, action_url=action_url, say_first=OVERFLOW_TRANSFER)
    return say_and_hang_up(BUSY)


QUEUE_HOLD = (
    "Thank you for calling. All of our lines are busy right now. Please stay on the line and "
    "we will be with you as soon as we can."
)
QUEUE_GAVE_UP = (
    "We're sorry, all of our lines are still busy. Please call back in a few minutes. Goodbye."
)


def enqueue(name: str, *, wait_url: str, action_url: str) -> str:
    """Hold the caller in Twilio's queue `name`: Twilio plays `wait_url`'s TwiML to them (and
    asks for it again each time it ends) until the engine dequeues them, and requests
    `action_url` when they leave the queue any other way (`QueueResult`)."""
    response = VoiceResponse()
    response.enqueue(
        name, wait_url=wait_url, wait_url_method="POST", action=action_url, method="POST"
    )
    return str(response)


def queue_hold(*, pause_s: int) -> str:
    """The queue's wait TwiML: the hold message, then a pause of at most the wait left (Twilio
    asks again when it ends)."""
    response = VoiceResponse()
    response.say(QUEUE_HOLD)
    response.pause(length=max(1, pause_s))
    return str(response)


def leave_queue() -> str:
    """The wait is over: out of the queue (Twilio then requests the `<Enqueue action>`)."""
    response = VoiceResponse()
    response.leave()
    return str(response)


def no_reply() -> str:
    """The answer to an incoming text that sends nothing back."""
    return str(MessagingResponse())


HOLD_MESSAGE = "Please hold while I connect you."
WHISPER_NO_KEY = "No problem. Goodbye."
CALLER_GONE = "Sorry, the caller has hung up in the meantime. Goodbye."
ACCEPTED = "Connecting you now."


def hold_in_conference(name: str, *, wait_url: str, action_url: str) -> str:
    """Put the caller into the call's conference to wait (Twilio plays `wait_url` to them
    until someone with start-on-enter joins); `action_url` runs when they leave it."""
    response = VoiceResponse()
    dial = Dial(action=action_url)
    dial.conference(
        name,
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        wait_url=wait_url,
        wait_method="POST",
        beep=False,
    )
    response.append(dial)
    return str(response)


def hold_music(message: str = HOLD_MESSAGE) -> str:
    """The conference's wait TwiML: a message, then a pause (Twilio loops it)."""
    response = VoiceResponse()
    response.say(message)
    response.pause(length=10)
    return str(response)


def whisper(summary: str, *, accept_url: str, digit: str, timeout_s: int) -> str:
    """What the transfer target hears on answering: who and why, then a key to accept."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=accept_url, timeout=timeout_s)
    gather.say(f"{summary} Press {digit} to take the call, or hang up to decline.")
    response.append(gather)
    response.say(WHISPER_NO_KEY)
    response.hangup()
    return str(response)


def join_conference(name: str) -> str:
    """The target accepted: into the conference, which starts (the caller stops holding)."""
    response = VoiceResponse()
    response.say(ACCEPTED)
    dial = Dial()
    dial.conference(name, start_conference_on_enter=True, end_conference_on_exit=True, beep=False)
    response.append(dial)
    return str(response)
