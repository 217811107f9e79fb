"""The TwiML a simulated Twilio reads: `parse_twiml` and the verb records it returns.

Pure (xml.etree, no I/O). The simulated caller executes these verbs for an inbound call
(`engine.sim.caller_run`), the target phones for an outbound one (`engine.sim.twilio_phones`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias
from xml.etree import ElementTree


class TwimlError(ValueError):
    """The document is not TwiML Twilio could execute (Twilio error 12100)."""


@dataclass(frozen=True, slots=True)
class TwimlSay:
    text: str


@dataclass(frozen=True, slots=True)
class TwimlHangup:
    pass


@dataclass(frozen=True, slots=True)
class TwimlDial:
    number: str


@dataclass(frozen=True, slots=True)
class TwimlRecording:
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class TwimlStream:
    url: str
    status_callback: str | None
    parameters: dict[str, str]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class TwimlConnect:
    action: str | None
    stream: TwimlStream | None


@dataclass(frozen=True, slots=True)
class TwimlPause:
    seconds: float


@dataclass(frozen=True, slots=True)
class TwimlRedirect:
    url: str


@dataclass(frozen=True, slots=True)
class TwimlConference:
    """`<Dial action><Conference ...>name</Conference></Dial>`."""

    name: str
    action: str | None
    start_on_enter: bool
    end_on_exit: bool
    wait_url: str | None


@dataclass(frozen=True, slots=True)
class TwimlEnqueue:
    """`<Enqueue action waitUrl>name</Enqueue>`."""

    name: str
    action: str | None
    wait_url: str | None


@dataclass(frozen=True, slots=True)
class TwimlLeave:
    """`<Leave/>` (in a queue's wait TwiML): out of the queue, on to the `<Enqueue action>`."""


@dataclass(frozen=True, slots=True)
class TwimlGather:
    """`<Gather action numDigits timeout>` with the `<Say>` prompts nested in it."""

    action: str | None
    num_digits: int
    timeout_s: float
    says: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TwimlOther:
    """A verb the simulator does not execute (Play, Start/Stream...)."""

    name: str


TwimlVerb: TypeAlias = (
    TwimlSay
    | TwimlHangup
    | TwimlDial
    | TwimlRecording
    | TwimlConnect
    | TwimlPause
    | TwimlRedirect
    | TwimlConference
    | TwimlEnqueue
    | TwimlLeave
    | TwimlGather
    | TwimlOther
)


def parse_twiml(document: str) -> list[TwimlVerb]:
    """The verbs of a TwiML `<Response>`, in order."""
    try:
        # The document comes from the engine under test, not from the internet.
        root = ElementTree.fromstring(document)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise TwimlError(f"document parse failure: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, not <Response>")
    verbs: list[TwimlVerb] = []
    for el in root:
        if el.tag == "Say":
            verbs.append(TwimlSay((el.text or "").strip()))
        elif el.tag == "Hangup":
            verbs.append(TwimlHangup())
        elif el.tag == "Dial" and (room := el.find("Conference")) is not None:
            attrs = room.attrib
            verbs.append(
                TwimlConference(
                    name=(room.text or "").strip(),
                    action=el.attrib.get("action"),
                    start_on_enter=attrs.get("startConferenceOnEnter", "true") == "true",
                    end_on_exit=attrs.get("endConferenceOnExit", "false") == "true",
                    wait_url=attrs.get("waitUrl"),
                )
            )
        elif el.tag == "Gather":
            verbs.append(
                TwimlGather(
                    action=el.attrib.get("action"),
                    num_digits=int(el.attrib.get("numDigits", "0") or 0),
                    timeout_s=float(el.attrib.get("timeout", "5")),
                    says=tuple((c.text or "").strip() for c in el if c.tag == "Say"),
                )
            )
        elif el.tag == "Dial":
            number = (el.text or "").strip()
            for child in el:
                if not number and child.tag in ("Number", "Sip", "Client"):
                    number = (child.text or "").strip()
            verbs.append(TwimlDial(number))
        elif el.tag == "Start":
            for child in el:
                if child.tag == "Recording":
                    verbs.append(TwimlRecording(dict(child.attrib)))
                else:
                    verbs.append(TwimlOther(f"Start/{child.tag}"))
        elif el.tag == "Connect":
            stream = None
            for child in el:
                if child.tag == "Stream" and stream is None:
                    params = {
                        p.attrib.get("name", ""): p.attrib.get("value", "")
                        for p in child
                        if p.tag == "Parameter"
                    }
                    stream = TwimlStream(
                        url=child.attrib.get("url", ""),
                        status_callback=child.attrib.get("statusCallback"),
                        parameters=params,
                        name=child.attrib.get("name"),
                    )
            verbs.append(TwimlConnect(action=el.attrib.get("action"), stream=stream))
        elif el.tag == "Pause":
            verbs.append(TwimlPause(float(el.attrib.get("length", "1"))))
        elif el.tag == "Redirect":
            verbs.append(TwimlRedirect((el.text or "").strip()))
        elif el.tag == "Enqueue":
            name = (el.text or "").strip()
            verbs.append(TwimlEnqueue(name, el.attrib.get("action"), el.attrib.get("waitUrl")))
        elif el.tag == "Leave":
            verbs.append(TwimlLeave())
        else:
            verbs.append(TwimlOther(el.tag))
    return verbs
