"""A grammar of the canonical response format, derived from `robot_sft.response_format`.

`render_response` writes one canonical line per action ("Move forward 2 m.", "Turn right
90 deg at 0.3 rad/s.", "Square with 1 m sides, turning left.", "Cannot comply: ...").
This module describes exactly those lines so that decoding can be constrained to them
(`robot_sft.inference.constraint`): whatever a constrained model writes, `parse_response`
accepts.

Nothing is typed twice. Directions, units, shape names and refusal reasons come from the format's
tables; the fixed lines ("Stop.", "Battery status: {battery}.", the pace words) are
obtained by rendering probe actions, so a change to the renderer changes the grammar.
test/test_grammar.py checks both directions: rendered responses match, and text the
grammar accepts parses.

One expression tree is written out two ways:

* `response_regex()` - a portable regular expression (no look-around, no back
  references): Python `re`, Rust `regex` (llguidance), interegular (lm-format-enforcer).
* `response_gbnf()` - a GBNF grammar (llama.cpp syntax, read by xgrammar and llguidance).

Deliberate restrictions, so that the grammar is finite and safe to decode greedily:
numbers have at most 5 integer and 4 decimal digits in canonical form (no trailing
zeros); place names are at most 5 lowercase words and never contain the word "then"
(the parser splits sentences there) nor start with "the" (the parser drops it); a refusal
is a line of its own, with a reason from REFUSAL_REASONS; at most `max_lines` lines; one
optional space before the first line (see `response_grammar`).
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

from robot_sft.grounding import (
    chore_cue, direction_cues, direction_grounded, fixed_line_cues, names_a_place, pace_cues,
    place_spans, refusal_cue, said_numbers, side_turn_said, straight_move_said, turning_said,
    unit_mentioned,
)
from robot_sft.response_format import (
    ANGLE_UNITS, ANGULAR_DIRECTIONS, ANGULAR_SPEED_UNITS, DISTANCE_UNITS, LINEAR_DIRECTIONS,
    LINEAR_SPEED_UNITS, PACES, REFUSAL_REASONS, SHAPE_SIDES, STATUS_TOPICS, TIME_UNITS, Move,
    Navigate, Refuse, Status, Stop, format_number, render_action,
)
from robot_sft.safety import SafetyLimits

# One line more than the planner accepts: a model that wants more actions writes a response
# the planner refuses, instead of the grammar cutting it to a shorter one that it executes.
DEFAULT_MAX_LINES = SafetyLimits().max_actions + 1
MAX_INT_DIGITS = 5
MAX_DECIMALS = 4
MAX_PLACE_WORDS = 5
MAX_WORD_CHARS = 16
# Words a place name may not contain: the parser splits sentences at " then ", and strips a
# leading "the", so either would make the line mean something else than it says.
PLACE_STOP_WORDS = ("then",)
PLACE_FIRST_STOP_WORDS = ("the", "then")

# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Chars:
    chars: frozenset


@dataclass(frozen=True)
class Seq:
    items: tuple


@dataclass(frozen=True)
class Alt:
    items: tuple


@dataclass(frozen=True)
class Rep:
    item: object
    low: int
    high: int


@dataclass(frozen=True)
class Rule:
    """A named sub-expression: a GBNF rule, inlined in the regex."""

    name: str
    body: object


def seq(*items):
    """The items in order; None items (a part this vocabulary has nothing for) left out."""
    return Seq(tuple(i for i in items if i is not None))


def alt(*items):
    return Alt(tuple(items))


def optional(item):
    return Rep(item, 0, 1)


_REGEX_META = set(r".^$*+?()[]{}|\/")


def _class_text(chars) -> str:
    """Characters as the body of a [...] class: runs as ranges, "-" last so that every
    dialect (Python, Rust regex, interegular, GBNF) reads it literally without escaping."""
    codes = sorted(ord(c) for c in chars if c != "-")
    if any(chr(c) in "\\]^[" for c in codes):
        raise ValueError(f"unsupported class characters {sorted(chars)}")
    parts, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        first, last = chr(codes[i]), chr(codes[j])
        parts.append(first if i == j else first + last if j == i + 1 else f"{first}-{last}")
        i = j + 1
    return "".join(parts) + ("-" if "-" in chars else "")


def to_regex(node) -> str:
    if isinstance(node, Lit):
        return "".join("\\n" if c == "\n" else "\\" + c if c in _REGEX_META else c
                       for c in node.text)
    if isinstance(node, Chars):
        return f"[{_class_text(node.chars)}]"
    if isinstance(node, Seq):
        return "".join(to_regex(i) for i in node.items)
    if isinstance(node, Alt):
        return "(?:" + "|".join(to_regex(i) for i in node.items) + ")"
    if isinstance(node, Rep):
        return f"(?:{to_regex(node.item)}){_quantifier(node)}"
    if isinstance(node, Rule):
        return to_regex(node.body)
    raise TypeError(node)


def _quantifier(node: Rep) -> str:
    if (node.low, node.high) == (0, 1):
        return "?"
    return f"{{{node.low}}}" if node.low == node.high else f"{{{node.low},{node.high}}}"


def to_gbnf(root: Rule) -> str:
    """GBNF text with one line per named rule, `root` first."""
    rules: dict[str, str] = {}
    bodies: dict[str, object] = {}

    def emit(node) -> str:
        if isinstance(node, Lit):
            return '"' + node.text.replace("\\", "\\\\").replace('"', '\\"').replace(
                "\n", "\\n") + '"'
        if isinstance(node, Chars):
            return f"[{_class_text(node.chars)}]"
        if isinstance(node, Seq):
            return " ".join(emit(i) for i in node.items)
        if isinstance(node, Alt):
            return "(" + " | ".join(emit(i) for i in node.items) + ")"
        if isinstance(node, Rep):
            return f"({emit(node.item)}){_quantifier(node)}"
        if isinstance(node, Rule):
            if node.name not in rules:
                rules[node.name] = ""  # reserve the slot so the order reads top-down
                rules[node.name] = emit(node.body)
                bodies[node.name] = node.body
            elif bodies[node.name] != node.body:
                raise ValueError(f"two different GBNF rules named {node.name!r}")
            return node.name
        raise TypeError(node)

    emit(root)
    return "\n".join(f"{name} ::= {body}" for name, body in rules.items()) + "\n"


# --------------------------------------------------------------------------- pieces

_WORD_FIRST = frozenset(string.ascii_lowercase + string.digits)
_WORD_CHARS = _WORD_FIRST | frozenset("_'-")


def word_except(excluded, first=_WORD_FIRST, rest=_WORD_CHARS, max_len=MAX_WORD_CHARS):
    """A word of `first` + `rest` characters that is none of `excluded`, without look-ahead:
    walk the trie of excluded words, leaving it as soon as a character differs."""
    excluded = set(excluded)

    def after(prefix: str):
        chars = first if not prefix else rest
        branching = sorted({w[len(prefix)] for w in excluded
                            if w.startswith(prefix) and len(w) > len(prefix)} & chars)
        options = [seq(Lit(c), after(prefix + c)) for c in branching]
        leave = chars - set(branching)
        if leave:
            tail = Rep(Chars(rest), 0, max(0, max_len - len(prefix) - 1))
            options.append(seq(Chars(frozenset(leave)), tail))
        body = alt(*options)
        may_end_here = bool(prefix) and prefix not in excluded
        return optional(body) if may_end_here else body

    return after("")


def _number_parts():
    digit, nonzero = frozenset(string.digits), frozenset("123456789")
    whole = seq(Chars(nonzero), Rep(Chars(digit), 0, MAX_INT_DIGITS - 1))
    fraction = seq(Lit("."), Rep(Chars(digit), 0, MAX_DECIMALS - 1), Chars(nonzero))
    return whole, fraction


def number() -> Rule:
    """What `format_number` writes for the numbers a command holds: 0, 2, 0.5, 12.25."""
    whole, fraction = _number_parts()
    return Rule("number", seq(alt(Lit("0"), whole), optional(fraction)))


def positive_number() -> Rule:
    """A number above zero (speeds): 0 itself is not allowed, 0.5 is."""
    whole, fraction = _number_parts()
    return Rule("positive-number", alt(seq(whole, optional(fraction)), seq(Lit("0"), fraction)))


def words(options) -> Alt:
    return alt(*[Lit(o) for o in options])


def _suffix(full: str, prefix: str) -> str:
    assert full.startswith(prefix), (full, prefix)
    return full[len(prefix):]


def pace_words(paces=None) -> list[str]:
    """The pace suffixes as the renderer writes them (" slowly", " quickly"): of `paces`
    only, when given."""
    plain = render_action(Move(1)).rstrip(".")
    return [_suffix(render_action(Move(1, pace=p)).rstrip("."), plain) for p in PACES
            if paces is None or p in paces]


@dataclass(frozen=True)
class Vocabulary:
    """What one command lets an answer say (grounded_grammar): its numbers, the units
    it spells and the directions it cues. None everywhere: anything the format has."""

    numbers: tuple | None = None      # free numbers (no unit said), as format_number writes them
    units: frozenset | None = None    # canonical units a free number may take
    directions: frozenset | None = None
    bare_turns: frozenset | None = None  # sides "Turn left." may take (no angle): said ones
    turn_sides: frozenset | None = None  # sides a turn by an angle or a time may take
    paces: frozenset | None = None    # paces ("slow", "fast") the command asks for
    amounts: tuple = ()               # (number text, unit, named turn): said amounts, in order
    speeds: tuple = ()                # (number text, speed unit): said speeds, with their unit
    asked: frozenset | None = None    # fixed lines ("stop", topics) asked for: after the first

    def kept(self, names) -> list:
        """`names` (units or direction words) this vocabulary allows, in their order."""
        chosen = self.units if set(names) & set(ALL_UNITS) else self.directions
        return [n for n in names if chosen is None or n in chosen]

    def number(self, positive: bool = False) -> Rule | None:
        """The free number rule, or None when this vocabulary has no such number."""
        if self.numbers is None:
            return positive_number() if positive else number()
        texts = [x for x in self.numbers if not positive or float(x) > 0]
        return Rule("positive-number" if positive else "number", words(texts)) if texts else None


ALL_UNITS = {**DISTANCE_UNITS, **ANGLE_UNITS, **TIME_UNITS, **LINEAR_SPEED_UNITS,
             **ANGULAR_SPEED_UNITS}


def _alternatives(*options):
    """alt() of the options that exist (None: left out); None when none does."""
    kept = [o for o in options if o is not None]
    return alt(*kept) if kept else None


def _quantity(lead: str, value: Rule | None, units: list):
    return seq(Lit(lead), value, Lit(" "), words(units)) if value is not None and units else None


def _said(lead: str, said, units) -> object | None:
    """" 2 m" for a said amount (text, unit) where its unit is one of `units`."""
    text, unit = said[:2]
    return Lit(f"{lead}{text} {unit}") if unit in units else None


def speed_suffix(name: str, units, vocabulary: Vocabulary) -> Rule:
    free = _quantity(" at ", vocabulary.number(positive=True), vocabulary.kept(units))
    said = [_said(" at ", s, units) for s in vocabulary.speeds]
    paces = [Lit(w) for w in pace_words(vocabulary.paces)]
    options = [o for o in (free, *said, *paces) if o is not None]
    return Rule(name, optional(alt(*options))) if options else None


def motion_lines(vocabulary: Vocabulary = Vocabulary(), said=None, tag: str = "") -> list:
    """The motion lines a vocabulary allows. With every number left open (the default)
    that is the whole format; a command without numbers still allows "Turn left.".
    `said` (text, unit): only the lines that carry that one said amount (a distance, an
    angle or a duration), named with `tag` (GBNF rule names are global)."""
    v = vocabulary
    linear = speed_suffix("linear-speed", sorted(LINEAR_SPEED_UNITS), v)
    angular = speed_suffix("angular-speed", sorted(ANGULAR_SPEED_UNITS), v)
    lines = []

    def how_much(lead, units, free_value):
        if said is not None:
            return _said(lead, said, units)
        return _quantity(lead, free_value, v.kept(units))

    # A number said without a unit is an angle in degrees (or another angle unit said), never
    # a distance or a duration: "forward 1m, left 90" must not become "Move forward 90 m.".
    angle = v.number() if said is None else None
    amount = angle if v.numbers is None else None  # the whole format: any number
    side = v.number(positive=True) if said is None and v.numbers is None else None
    distance, times = sorted(DISTANCE_UNITS), sorted(TIME_UNITS)
    time = how_much(" for ", times, amount)
    if moves := v.kept(LINEAR_DIRECTIONS):
        if how_far := _alternatives(how_much(" ", distance, amount), time):
            lines.append(Rule("move" + tag, seq(Lit("Move "), words(moves), how_far, linear,
                                                Lit("."))))
    if turns := v.kept(ANGULAR_DIRECTIONS):
        how_far = _alternatives(how_much(" ", sorted(ANGLE_UNITS), angle), time)
        if how_far and (sides := [t for t in turns if v.turn_sides is None or t in v.turn_sides]):
            lines.append(Rule("turn" + tag, seq(Lit("Turn "), words(sides), how_far, angular,
                                                Lit("."))))
        bare = [t for t in turns if v.bare_turns is None or t in v.bare_turns]
        if bare and said is None:  # "Turn left." needs no number, but its side must be said
            # grounded, a pace at most: a rate and no angle asks for no end (the check's rule)
            if v.paces is None:  # the whole format
                how = angular
            else:
                how = optional(words(pace_words(v.paces))) if v.paces else None
            lines.append(Rule("default-turn" + tag, seq(Lit("Turn "), words(bare), how,
                                                        Lit("."))))
        # a shape's side is a positive distance (a said 0 m carries no shape)
        if (said is None or float(said[0]) > 0) and (sides := how_much(" with ", distance, side)):
            shape = seq(words(sorted(n.capitalize() for n in SHAPE_SIDES)), sides,
                        Lit(" sides, turning "), words(turns))
            lines.append(Rule("shape" + tag, seq(shape, linear, Lit("."))))
    return lines


def place(places=None) -> Rule:
    """One of `places` (names, when given) or a plain lowercase name."""
    if places:
        names = sorted({Navigate(p).place for p in places}, key=len, reverse=True)
        return Rule("place", words(names))
    later = seq(Lit(" "), word_except(PLACE_STOP_WORDS))
    return Rule("place", seq(word_except(PLACE_FIRST_STOP_WORDS),
                             Rep(later, 0, MAX_PLACE_WORDS - 1)))


def navigate_line(places=None) -> Rule:
    probe = render_action(Navigate("x"))  # "Navigate to x."
    before, after = probe.split("x")
    return Rule("navigate", seq(Lit(before), place(places), Lit(after)))


def fixed_lines(asked=None, name: str = "fixed") -> Rule | None:
    """"Stop." and the status lines; of `asked` ("stop", topics) only, when given."""
    lines = [render_action(a) for key, a in [("stop", Stop())] +
             [(t, Status(t)) for t in STATUS_TOPICS] if asked is None or key in asked]
    return Rule(name, words(lines)) if lines else None


def refusal_line() -> Rule:
    return Rule("refusal", words([render_action(Refuse(r)) for r in REFUSAL_REASONS.values()]))


def response_grammar(places=None, max_lines: int = DEFAULT_MAX_LINES,
                     vocabulary: Vocabulary = Vocabulary(), navigate: bool = True,
                     navigation_first: bool = False, open_end: bool = False) -> Rule:
    """root: one refusal line, or 1..max_lines action lines separated by newlines. An optional
    leading space: SentencePiece tokenizers (Llama-2) start an answer with a word marker
    that reads as one, and the parser strips it. `vocabulary` narrows numbers, units and
    directions (grounded_grammar).

    With said amounts (vocabulary.amounts) an answer either moves nothing (navigation,
    stop, status lines) or carries every said amount once, in the command's order, each on
    a line of its own kind, with lines that carry no said amount in between: "fwd 2m; R
    90deg; fwd 1m" cannot end after two lines, repeat "2 m" or turn "2 deg"."""
    if max_lines < 1:
        raise ValueError("max_lines must be at least 1")
    # Grounded (vocabulary.asked given): the first line may be any line and a stop or
    # status line after it needs its cue ("Battery status: ...\nStop." adds what nobody
    # asked for). `navigation_first`: a navigation comes first if at all (the planner
    # executes it alone), so after "Move forward 2 m." no "Navigate to ..." line is open to
    # a model that meant something else - for a server, whose answers cannot be cut where
    # the model meant a line the grammar forbids (GreedyDecoder.tokens; in-process the
    # open navigation line is how the model says it meant one, and rule 4 refuses it).
    # `open_end`, for the same servers: an answer may end in a navigation line and then a
    # refusal line, each once, so a model that meant one writes it there ("go back 1 ft and
    # then go to the kitchen": "Move backward 1 ft.\nNavigate to kitchen.", which the planner
    # refuses; "go to the kitchen and sing a song": "Navigate to kitchen.\nCannot comply:
    # ...", which the whole-answer rule refuses). In-process rule 4 sees the line meant.
    fixed = fixed_lines()
    grounded = vocabulary.asked is not None
    later_fixed = fixed_lines(vocabulary.asked, "asked-fixed") if grounded else fixed
    moving = motion_lines(vocabulary)
    going = [navigate_line(places)] if navigate and not navigation_first else []
    later_still = going + ([later_fixed] if later_fixed is not None else [])
    first = Rule("action", alt(*moving, *going, fixed))
    action = _rule("later-action", moving + later_still) if grounded else first
    more = max_lines - 1
    refusal = refusal_line()
    options = [refusal]
    if navigate and navigation_first:  # more lines may follow it (the planner refuses a mix)
        options.append(seq(navigate_line(places), _more_lines(action, more)))
    if not vocabulary.amounts:
        options.append(seq(first, _more_lines(action, more)))
    else:  # moves nothing
        quiet = Rule("still-action", alt(*going, fixed))
        later_quiet = _rule("later-still-action", later_still) if grounded else quiet
        options.append(seq(quiet, _more_lines(later_quiet, more)))
        options += _carrying_all(vocabulary, _said_lines(vocabulary), first, action, more)
    if open_end:
        meant = seq(optional(seq(Lit("\n"), navigate_line(places))) if navigate else None,
                    optional(seq(Lit("\n"), refusal)))
        options[1:] = [seq(option, meant) for option in options[1:]]  # after any but a refusal
    return Rule("root", seq(optional(Lit(" ")), alt(*options)))


def _said_lines(vocabulary: Vocabulary) -> list:
    """Per said amount, the rule of the lines that carry it (None where none can)."""
    return [Rule(f"said-{i + 1}", alt(*lines)) if (lines := motion_lines(vocabulary, a[:2],
                                                                      tag=f"-{i + 1}")) else None
            for i, a in enumerate(vocabulary.amounts)]


def _rule(name: str, lines: list) -> Rule | None:
    return Rule(name, alt(*lines)) if lines else None


def _more_lines(line: Rule | None, more: int):
    """Up to `more` further lines, each "\n" + `line`; None when no line may follow."""
    return Rep(seq(Lit("\n"), line), 0, more) if line is not None and more > 0 else None


def _carrying_all(vocabulary: Vocabulary, said: list, first: Rule, action: Rule,
                  more: int) -> list:
    """Answers that carry the said amounts in order: each on a line of its own kind, with
    any other lines between; a named turn (amount[2] true) may be left out. Written from
    the last amount back, so each amount's expression appears once or twice, not 2^n times:
    after(i) = (\n action)* (\n said_i)[?] after(i + 1)."""
    amounts = vocabulary.amounts
    if any(line is None and not a[2] for line, a in zip(said, amounts)):
        return []  # a said amount fits no line (a duration and no direction): stand still
    loop = _more_lines(action, more)
    after = [None] * (len(amounts) + 1)
    after[-1] = loop
    for i in range(len(amounts) - 1, -1, -1):
        step = seq(Lit("\n"), said[i]) if said[i] is not None else None
        if amounts[i][2]:
            step = optional(step) if step is not None else None
        after[i] = seq(loop, step, after[i + 1])
    # The first line: any action, or said_j where every amount before j may be left out.
    starts = [seq(first, after[0])]
    for j, line in enumerate(said):
        if line is not None:
            starts.append(seq(line, after[j + 1]))
        if not amounts[j][2]:
            break
    return starts


def grounded_grammar(command: str, max_lines: int = DEFAULT_MAX_LINES,
                     navigation_first: bool = False, open_end: bool = False) -> Rule:
    """The response grammar for one command: numbers only from the command (its digits,
    number words, fractions and named turns; a number said with a unit only with that
    unit, once, in order: `said_numbers`), units it spells (and degrees), directions it
    cues (or the policy's defaults), places only from its own words (robot_sft.grounding,
    whose check_grounding accepts exactly what this allows). An unknown place can then be
    named but never replaced by a known one: the node refuses it in words. A command that
    names no place ("go over to that spot") gets no navigation line at all."""
    cues = direction_cues(command)
    endless = refusal_cue(command) is not None  # no motion grounds "... forever", "full speed"
    said = said_numbers(command)
    free = {format_number(n) for n in said.free}
    straight = straight_move_said(command, said, cues)  # no `Move` line where only turning is said
    vocabulary = Vocabulary(
        numbers=tuple(sorted(free, key=len, reverse=True)),
        units=frozenset(u for u in ALL_UNITS if u == "deg" or unit_mentioned(command, u)),
        directions=frozenset(d for d in LINEAR_DIRECTIONS + ANGULAR_DIRECTIONS
                             if direction_grounded(d, cues) and not endless
                             and (straight or d not in LINEAR_DIRECTIONS)),
        # no `Turn left.` (90 deg) beside a named turn: "u-turn right" is 180 (the check's rule)
        bare_turns=frozenset() if any(q.named for q in said.amounts) else frozenset(
            d for d in cues if side_turn_said(command, d)),
        # the default side (left) only with a word of turning: "drive 2" is no `Turn left 2 deg.`
        turn_sides=frozenset(d for d in ANGULAR_DIRECTIONS
                             if d in cues or turning_said(command, said)),
        paces=frozenset(pace_cues(command)),
        amounts=tuple((format_number(q.value), q.unit, q.named) for q in said.amounts),
        speeds=tuple(dict.fromkeys((format_number(q.value), q.unit) for q in said.speeds)),
        asked=frozenset(fixed_line_cues(command)))
    spans = [] if chore_cue(command) else [  # a chore: no navigation does it
        s for s in place_spans(command) if _is_place(s) and names_a_place(s)]
    return response_grammar(spans, max_lines, vocabulary, navigate=bool(spans),
                            navigation_first=navigation_first, open_end=open_end)


def _is_place(text: str) -> bool:
    words_ = text.split()
    return (0 < len(words_) <= MAX_PLACE_WORDS and words_[0] not in PLACE_FIRST_STOP_WORDS
            and not set(words_) & set(PLACE_STOP_WORDS)
            and all(len(w) <= MAX_WORD_CHARS for w in words_))


@lru_cache(maxsize=32)
def _cached(places, max_lines, form):
    root = response_grammar(places, max_lines)
    return to_regex(root) if form == "regex" else to_gbnf(root)


def response_regex(places=None, max_lines: int = DEFAULT_MAX_LINES) -> str:
    """The canonical response as one portable regular expression (match it whole)."""
    return _cached(tuple(places) if places else None, max_lines, "regex")


def response_gbnf(places=None, max_lines: int = DEFAULT_MAX_LINES) -> str:
    """The canonical response as a GBNF grammar whose start rule is `root`."""
    return _cached(tuple(places) if places else None, max_lines, "gbnf")


def is_canonical(text: str, places=None, max_lines: int = DEFAULT_MAX_LINES) -> bool:
    """True when `text` is exactly a response the grammar allows."""
    return _compiled(tuple(places) if places else None, max_lines).fullmatch(text) is not None


@lru_cache(maxsize=32)
def _compiled(places, max_lines):
    return re.compile(response_regex(places, max_lines))
