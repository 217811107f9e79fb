"""What the agent is asked to say at fixed moments of a call (goodbyes, checks, handoffs, the
offer of Spanish), in English and Spanish. Pure.

Each is a `response.instructions` text with the words to say in double quotes (the model says
them; the offline simulator speaks exactly the quoted part). `lines(language)` gives the set
for the call's language; `localize` turns a line written in English (a tool's goodbye or
handoff) into the call's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Language = Literal["en", "es"]
LANGUAGES: tuple[Language, ...] = ("en", "es")


def _say(text: str) -> str:
    return f'Say exactly this, in your own voice, and nothing else: "{text.replace(chr(34), "")}"'


@dataclass(frozen=True, slots=True)
class Lines:
    goodbye: str
    still_there: str
    silence_goodbye: str
    time_limit: str
    filler: str
    emergency: str
    emergency_transfer: str  # when the agency has an emergency line to put the caller through to
    advice_transfer: str  # the engine cut a quote, coverage advice or binding (engine.advice_guard)
    advice_message: str  # the same, when there is nobody to put the caller through to
    _handoff: str

    def handoff(self, description: str) -> str:
        return _say(self._handoff.format(description=description))


_EN = Lines(
    goodbye=_say("Thank you for calling. Goodbye!"),
    still_there=_say("Are you still there?"),
    silence_goodbye=_say(
        "I haven't heard anything for a while, so I'll end the call now. Please call back "
        "anytime. Goodbye!"
    ),
    time_limit=_say(
        "We've reached the time limit for this call. Thank you for calling, and please call back "
        "if you need anything else. Goodbye!"
    ),
    filler=_say("One moment while I check that."),
    emergency=_say(
        "If anyone is hurt or in danger, please hang up now and call 9 1 1. Once everyone is "
        "safe, call us back and we'll help with the rest."
    ),
    emergency_transfer=_say(
        "If anyone is hurt or in danger, please hang up now and call 9 1 1. If you stay on the "
        "line, I'll put you through to someone at the agency right away."
    ),
    advice_transfer=_say(
        "I'm sorry, only a licensed agent can answer that. I can put you through to one now, "
        "or take a message so one calls you back. Which would you like?"
    ),
    advice_message=_say(
        "I'm sorry, only a licensed agent can answer that. I can take a message so one calls "
        "you back. Would you like that?"
    ),
    _handoff="One moment, I'm transferring you to {description} now.",
)
_ES = Lines(
    goodbye=_say("Gracias por llamar. ¡Adiós!"),
    still_there=_say("¿Sigue ahí?"),
    silence_goodbye=_say(
        "No he escuchado nada por un rato, así que voy a terminar la llamada. Llámenos cuando "
        "quiera. ¡Adiós!"
    ),
    time_limit=_say(
        "Hemos llegado al tiempo máximo de esta llamada. Gracias por llamar, y llámenos de nuevo "
        "si necesita algo más. ¡Adiós!"
    ),
    filler=_say("Un momento mientras lo reviso."),
    emergency=_say(
        "Si alguien está herido o en peligro, cuelgue ahora y llame al 9 1 1. Cuando todos estén "
        "a salvo, llámenos y le ayudaremos con lo demás."
    ),
    emergency_transfer=_say(
        "Si alguien está herido o en peligro, cuelgue ahora y llame al 9 1 1. Si sigue en la "
        "línea, le comunico ahora mismo con alguien de la agencia."
    ),
    advice_transfer=_say(
        "Lo siento, solo un agente con licencia puede responder eso. Puedo comunicarle ahora "
        "con uno, o tomar un mensaje para que uno le llame. ¿Qué prefiere?"
    ),
    advice_message=_say(
        "Lo siento, solo un agente con licencia puede responder eso. Puedo tomar un mensaje "
        "para que uno le llame. ¿Le parece bien?"
    ),
    _handoff="Un momento, le estoy transfiriendo con {description}.",
)
_LINES: dict[str, Lines] = {"en": _EN, "es": _ES}
_FIXED = (
    "goodbye",
    "still_there",
    "silence_goodbye",
    "time_limit",
    "filler",
    "emergency",
    "emergency_transfer",
    "advice_transfer",
    "advice_message",
)

# Said after the greeting when the agency speaks Spanish (before the caller's language is known).
SPANISH_OFFER = "Para español, hable en español."
SPANISH_RECORDING_NOTICE = "Esta llamada se graba."


def lines(language: str) -> Lines:
    """The lines in `language`; English for a language the agent does not speak."""
    return _LINES.get(language, _EN)


def localize(instructions: str, language: str) -> str:
    """An English line (`GOODBYE`, a `handoff(...)`) in `language`; other text unchanged."""
    target = lines(language)
    if target is _EN:
        return instructions
    for name in _FIXED:
        if instructions == getattr(_EN, name):
            return str(getattr(target, name))
    prefix, suffix = _EN.handoff("\0").split("\0")
    if instructions.startswith(prefix) and instructions.endswith(suffix):
        return target.handoff(instructions[len(prefix) : len(instructions) - len(suffix)])
    return instructions


GOODBYE = _EN.goodbye
STILL_THERE = _EN.still_there
SILENCE_GOODBYE = _EN.silence_goodbye
TIME_LIMIT = _EN.time_limit
FILLER = _EN.filler
EMERGENCY = _EN.emergency
EMERGENCY_TRANSFER = _EN.emergency_transfer
ADVICE_TRANSFER = _EN.advice_transfer
ADVICE_MESSAGE = _EN.advice_message
RECORDING_DECLINED = _say("Understood: this call is not being recorded.")
RESUMED_CUT_OFF = (
    "Your last answer was cut off by a connection problem. Finish it briefly without "
    "repeating what you already said."
)


def handoff(description: str) -> str:
    return _EN.handoff(description)


def fixed(text: str) -> str:
    """Any fixed words (the AI disclosure) as a line the model says exactly."""
    return _say(text)


def rest_of_answer(text: str) -> str:
    """The part of an answer an outside voice could not speak, said in the model's own voice."""
    return _say(text)


def keypad(digit: str) -> str:
    return f"The caller pressed {digit} on their keypad."
