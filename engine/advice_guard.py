"""Hearing coverage advice, a price quote or binding in what the agent says. Pure.

The agent is not a licensed agent: it may not tell a caller whether a loss is covered, quote a
price, or bind or change coverage. Its instructions say so (the rules block of
prompts/templates/instructions.txt); this is the engine's own check of the words it speaks, for
a model that does not obey. The call's state machine (engine.advice_steps) feeds it the agent's
transcript as it streams - one check per transcript delta, never per audio frame - and when it
fires the answer is cut as a barge-in cuts it and the engine's own line offers a licensed agent.

Only a statement fires: "you're covered", "your premium will be $212 a month", "I've bound
that". The same words asked about or deferred do not: "I can't tell you whether you're covered,
a licensed agent can", "you'd like to know what your premium would be". Spanish is checked too
when the agency speaks it.

Each check looks at the new words and a short tail of what came before them in the same answer
(`tail`), so its cost does not grow with the answer's length.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["coverage", "quote", "binding"]
KINDS: tuple[Kind, ...] = ("coverage", "quote", "binding")

TAIL_CHARS = 240  # what is kept of an answer between deltas: a sentence or two
_REACH = 90  # the longest phrase a delta may complete, in characters

_MONEY_EN = r"(?:\$\s?\d[\d,]*(?:\.\d\d)?|\b\d[\d,]*(?:\.\d\d)? dollars)"
_MONEY_ES = r"(?:\$\s?\d[\d.,]*|\b\d[\d.,]* (?:dólares|pesos))"
_BE = r"(?:'re| are|'d be| would be|'ll be| will be| should be|'re going to be| are going to be)"
_IS = r"(?:'s| is|'d be| would be|'ll be| will be| should be|'s going to be| is going to be)"
_PERIOD_EN = r"\s*(?:a|per|each|every|/)\s*(?:month|mo|year|yr|six months|quarter)\b"

# "money" is a quote too, unless its sentence reads from the record ("your current premium is").
# fmt: off
_PATTERNS: dict[str, tuple[tuple[Kind | Literal["money"], tuple[str, ...], str], ...]] = {
    "en": (
        ("coverage", ("cover",),
         rf"\b(?:you{_BE}|(?:that|it|this|the damage|the repair|the loss){_IS}|"
         rf"(?:they|those){_BE})\s+(?:not |definitely |fully |totally |probably )?"
         r"covered\b"),
        ("coverage", ("cover",),
         r"\b(?:isn't|is not|aren't|are not|won't be|wouldn't be) covered\b"),
        ("coverage", ("cover", "pay", "exclude"),
         r"\byour (?:policy|insurance|coverage|plan|auto policy|home policy|"
         r"homeowners policy|renters policy)\s+(?:definitely |should |would |will )?"
         r"(?:covers|will cover|would cover|does cover|doesn't cover|does not cover|"
         r"won't cover|will not cover|wouldn't cover|pays for|will pay for|"
         r"would pay for|excludes)\b"),
        ("coverage", ("cover",),
         r"\bcovered under your (?:policy|plan|coverage)\b"),
        ("coverage", ("claim",),
         r"\byour claim (?:will|would|is going to) be (?:approved|paid|accepted|"
         r"denied|covered)\b"),
        ("coverage", ("recommend", "suggest", "advise"),
         r"\bi(?:'d| would)? (?:recommend|suggest|advise)\b[^.?!]{0,30}\b"
         r"(?:coverage|deductible|limits?|comprehensive|collision|liability|umbrella)\b"),
        ("quote", ("premium", "rate", "price", "pay", "cost", "bill"),
         r"\byour (?:new |monthly |annual |yearly |total )?(?:premium|rate|price|"
         r"payment|cost|bill)s?\s*(?:will|would|is going to|'ll|'d)\s+(?:only |just )?"
         r"(?:be (?:about |around |roughly |approximately |just |only |a bit |a little )?"
         r"(?:higher|lower|more|less|cheaper|\$|\d|[a-z]+ (?:hundred|thousand|dollars)\b|"
         r"(?:[\w$.,-]+ ){1,5}(?:a|per|each) (?:month|year)\b)|go (?:up|down)|drop|increase|"
         r"decrease|rise|come to|double)"),
        ("quote", ("$", "dollar"),
         r"\b(?:it|that|this|the policy|the coverage)(?:'ll| will|'d| would|'s going to|"
         r" is going to)\s+(?:only |just )?(?:cost|run|be)\s+(?:you\s+)?(?:about |"
         rf"around |roughly |approximately |just |only )?{_MONEY_EN}"),
        ("money", ("$", "dollar"),
         rf"{_MONEY_EN}(?:{_PERIOD_EN}|\s+(?:monthly|annually|a year|a month)\b)"),
        ("quote", ("month", "year"),
         r"\b(?:it|that|this|you)(?:'d| would|'ll| will|'s going to| are going to|"
         r" is going to)\s+(?:be|cost|pay|run)\s+(?:you\s+)?(?:[\w-]+ ){0,3}?(?:\d[\d,.]*|"
         r"ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
         r"thousand)\b(?:[ -][\w-]+){0,3}? (?:a|per|each) (?:month|year)\b"),
        ("quote", ("rate", "premium", "price", "quote"),
         r"\b(?:i can|i could|i'll|i will) (?:offer|quote|give|get) you (?:a )?(?:rate|"
         r"premium|price|quote) of\b"),
        ("quote", ("quote",),
         rf"\bquote (?:of|for|at) (?:about |around )?{_MONEY_EN}"),
        ("binding", ("bound", "bind"),
         r"\bi(?:'ve| have|'ll| will| just| went ahead and| can)\s+(?:go ahead and |"
         r"now )?(?:bound|bind)\b"),
        ("binding", ("bound", "active", "effect", "force"),
         r"\b(?:policy|coverage) is (?:now )?bound\b|\b(?:policy|coverage) is now "
         r"(?:active|in effect|in force)\b"),
        ("binding", ("policy", "cover", "deductible", "limit"),
         r"\bi(?:'ve| have| just)\s+(?:added|removed|dropped|cancell?ed|changed|"
         r"increased|raised|lowered|reduced|updated|upgraded|switched)\b[^.?!]{0,40}?"
         r"\byour (?:policy|coverage|deductible|limits?)\b"),
        ("binding", ("effective",),
         r"\b(?:coverage|policy|change)s? (?:is|are|will be) effective (?:immediately|"
         r"today|now|right away|as of)\b"),
        ("binding", ("consider",),
         r"\bconsider (?:yourself|it|that) (?:covered|bound|insured)\b"),
    ),
    "es": (
        ("coverage", ("cubiert",),
         r"\b(?:está|estás|estaría|estará|queda|quedaría|quedará|estaría usted|"
         r"está usted)\s+(?:totalmente |completamente |bien )?cubiert[oa]s?\b"),
        ("coverage", ("cubr", "pag", "cluye"),
         r"\bsu (?:póliza|poliza|seguro|cobertura|plan)\s+(?:sí |no |también )?"
         r"(?:cubre|cubriría|cubrirá|paga|pagaría|pagará|incluye|excluye)\b"),
        ("coverage", ("reclamo",),
         r"\bsu reclamo (?:será|sería|va a ser) "
         r"(?:aprobado|pagado|negado|rechazado)\b"),
        ("quote", ("prima", "tarifa", "cuota", "pago", "precio"),
         r"\bsu (?:nueva )?(?:prima|tarifa|cuota|pago|precio)\s+(?:mensual\s+)?"
         r"(?:será|sería|va a ser|quedaría|quedará|bajaría|subiría|bajará|subirá)\b"),
        ("quote", ("cost", "saldr"),
         r"\b(?:le|te) (?:costará|costaría|va a costar|saldría|saldrá)\b"),
        ("money", ("$", "dólar", "peso"),
         rf"{_MONEY_ES}\s*(?:(?:al|por|cada|/)\s*(?:mes|año|semestre)\b|"
         r"(?:mensuales|anuales)\b)"),
        ("binding", ("póliza", "poliza", "cobertura", "deducible"),
         r"\b(?:he|ya he|le he|ya le he|acabo de)\s+(?:activar|activado|emitir|emitido|"
         r"agregar|agregado|añadir|añadido|quitar|quitado|eliminar|eliminado|cancelar|"
         r"cancelado|cambiar|cambiado|aumentar|aumentado|bajar|bajado)\b[^.?!]{0,40}?"
         r"\b(?:póliza|poliza|cobertura|deducible)\b"),
        ("binding", ("póliza", "poliza", "cobertura"),
         r"\bsu (?:póliza|poliza|cobertura) (?:ya (?:está|quedó|queda)|queda|quedó) "
         r"(?:activa|vigente|en vigor|emitida)\b"),
    ),
}
# fmt: on

# A phrase asked about or reported, not stated: the words just before it.
_ASKED = re.compile(
    r"(?:\b(?:whether|if|what|which|how much|si|qué|que si|cuánto|cuál|said|mentioned|think|"
    r"thought|believe|wondering|asking|hoping|hope|sure|dice|dijo|cree)\s*(?:or not\s*)?)$",
    re.IGNORECASE,
)
# A clause that defers to a licensed agent or says the agent cannot know.
_DEFERS = re.compile(
    r"\b(?:can't|cannot|can not|couldn't|could not|not able|unable|don't know|do not know|"
    r"not sure|no way to|licensed|only an agent|an agent can|an agent will|need to check|"
    r"would need to|have to check|not allowed|no puedo|no podemos|no sé|no sabría|no le puedo|"
    r"con licencia|autorizad[oa]|un agente (?:puede|podrá|le))",
    re.IGNORECASE,
)
_CLAUSE_START = re.compile(r"(?:[.?!;:,]|\bbut\b|\bpero\b|—|–)\s*", re.IGNORECASE)
_RECORD = re.compile(
    r"\b(?:current(?:ly)?|last|paid|paying|payment was|balance|billed|on file|shows|previous|"
    r"actual|pagó|actual(?:mente)?|saldo)\b",
    re.IGNORECASE,
)


def _compile(language: str) -> tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...]:
    """Each phrase with the words one of which any text it matches holds (for lower-case text):
    a phrase is looked for only where one of them is (a substring test of a few microseconds),
    and most of an answer's deltas hold none."""
    return tuple((kind, keys, re.compile(p)) for kind, keys, p in _PATTERNS[language])


_COMPILED = {"en": _compile("en"), "es": _compile("es")}
_ANY_KEY = {  # one scan for text that holds none of a language's words
    language: re.compile("|".join(re.escape(k) for _, keys, _ in phrases for k in keys))
    for language, phrases in _COMPILED.items()
}


def _clause(text: str, start: int) -> str:
    """The words of `text` before `start`, back to the start of their clause."""
    before = text[max(0, start - 160) : start]
    cut = 0
    for m in _CLAUSE_START.finditer(before):
        cut = m.end()
    return before[cut:]


def _sentence(text: str, start: int) -> str:
    before = text[max(0, start - 160) : start]
    cut = max(before.rfind("."), before.rfind("?"), before.rfind("!"))
    return before[cut + 1 :]


def _stated(text: str, m: re.Match[str], kind: str) -> bool:
    clause = _clause(text, m.start())
    if _ASKED.search(clause.rstrip(" ,")) or _DEFERS.search(clause):
        return False
    # "your current premium is $120 a month": what the record says, no quote
    return not (kind == "money" and _RECORD.search(_sentence(text, m.start())))


def find(said: str, delta: str, spanish: bool = False) -> Kind | None:
    """What the agent's new words `delta`, after `said` (the answer so far, or its `tail`),
    state that only a licensed agent may: coverage advice, a quote or binding; None if nothing.
    A phrase must end in the new words (the earlier ones were checked with their own delta)."""
    text = (said + delta).replace("’", "'").lower()
    new_from = len(said)
    begin = max(0, new_from - _REACH)
    window = text[begin:]
    for language in ("en", "es") if spanish else ("en",):
        if _ANY_KEY[language].search(window) is None:
            continue
        for kind, keys, pattern in _COMPILED[language]:
            if not any(key in window for key in keys):
                continue
            for m in pattern.finditer(text, begin):
                if m.end() > new_from and _stated(text, m, kind):
                    return "quote" if kind == "money" else next(k for k in KINDS if k == kind)
    return None


def tail(text: str) -> str:
    """What is kept of an answer between deltas (enough for a phrase and its clause)."""
    return text[-TAIL_CHARS:]
