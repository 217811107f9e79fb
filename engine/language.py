"""Which language a caller speaks, from their transcribed words: English or Spanish. Pure.

A few hundred words of telephone talk carry strong markers (articles, pronouns, common verbs,
Spanish accents and inverted marks); a turn is judged by which language's markers it holds
more of, and a turn with neither (a name, a number, "okay") leaves the call's language as it
was.
"""

from __future__ import annotations

import re

_WORDS = re.compile(r"[^\W\d_]+")
_SPANISH = frozenset(
    """
    hola buenos buenas días tardes noches gracias favor quiero necesito tengo puedo quisiera
    mi mis su sus el la los las un una unos unas del al que qué por para con como cómo cuándo
    dónde donde cuál porque pero también está estoy es son soy hay hablar habla español
    póliza seguro seguros carro coche casa reclamo pago dirección cambiar llamar llamada
    usted ustedes yo nosotros ella ellos sí muy bien bueno señor señora ayuda ayudar
    """.split()
)
_ENGLISH = frozenset(
    """
    hello hi good morning afternoon evening thanks thank please want need have can could
    would my your his her the a an of to for with how when where which because but also
    is am are there speak english policy insurance car house claim payment address change
    call you we they she he yes very well sir help i i'm it this that what
    """.split()
)
_SPANISH_MARKS = frozenset("áéíóúñ¿¡")


def detect_language(text: str) -> str | None:
    """ "es" or "en" when the text clearly leans one way, None when it does not."""
    words = [w.lower() for w in _WORDS.findall(text)]
    spanish = sum(w in _SPANISH for w in words) + sum(c in _SPANISH_MARKS for c in text.lower())
    english = sum(w in _ENGLISH for w in words)
    if spanish > english:
        return "es"
    if english > spanish:
        return "en"
    return None
