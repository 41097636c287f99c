"""Bench-build rules that widen a call's accepted argument values from the user's own words.

The generator writes one value per argument, in its own conventions; a careful assistant
reading the same request could send another one and be just as right. These rules add
those readings to the BFCL-style accepted lists (`build.accepted_values`), using only
what the user said, the clock and the items the call is about:

- `horizon_days` (`vague_horizon_days`): a vague span ("in the next few days", "this week")
  accepts every horizon a careful assistant could send for it; an explicit count ("next 5
  days", "in ten days", "2 weeks") accepts only itself. The table is `VAGUE_HORIZONS`.
- free text (`FREE_TEXT_KEYS`: rationale, description, title): the accepted list gains the
  topics the call is about (item or event titles, the user's request), so the scorer can
  accept any text on one of those topics (`evaluation.arguments.text_on_topic`).

This is the data layer: it imports the tools and data modules and the standard library,
never `canvas_pipeline.evaluation` or `canvas_pipeline.training`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from canvas_pipeline.data.student_view import LOCAL_TZ
from canvas_pipeline.tools.registry import load_registry

MAY_OMIT = ""

FREE_TEXT_KEYS: frozenset[str] = frozenset({"rationale", "description", "title"})
"""Top-level string arguments that carry free prose rather than a value the backend looks
up: a paraphrase on the same topic answers them as well as the generator's canned text."""

HORIZON_KEY = "horizon_days"

NUMBER_WORDS: dict[str, int] = {
    word: n
    for n, word in enumerate(
        (
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
        ),
        start=1,
    )
}
_COUNT = r"(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")"
EXPLICIT_DAYS = re.compile(rf"\b{_COUNT}(?:\s+|-)days?\b")
EXPLICIT_WEEKS = re.compile(rf"\b{_COUNT}(?:\s+|-)weeks?\b")


def days_left_in_week(today: date) -> int:
    """Days from `today` through Sunday, counting today: 7 on a Monday, 3 on a Friday, 1 on a Sunday."""
    return 7 - today.weekday()


@dataclass(frozen=True)
class VagueHorizon:
    """One vague way of naming a span of days, and the horizons it accepts (both ends included)."""

    phrases: tuple[str, ...]
    low: Callable[[date], int]
    high: Callable[[date], int]
    dated: bool = False  # whether the range depends on the day of the week

    def matches(self, text: str) -> bool:
        """Whether the normalised request uses one of the phrases, as whole words."""
        return any(re.search(rf"\b{re.escape(phrase)}\b", text) for phrase in self.phrases)

    def accepts(self, today: date | None) -> list[int] | None:
        """The horizons accepted for this phrase when the request is made on `today`; None
        when the range depends on the day and the day is not known."""
        if today is None:
            if self.dated:
                return None
            today = date.min  # any day: the range does not depend on it
        return list(range(self.low(today), self.high(today) + 1))


def _fixed(days: int) -> Callable[[date], int]:
    return lambda _today: days


VAGUE_HORIZONS: tuple[VagueHorizon, ...] = (
    # Two weeks, however it is said, is 14 days.
    VagueHorizon(("next two weeks", "couple of weeks", "couple weeks", "fortnight"), _fixed(14), _fixed(14)),
    # "A couple" is two, and read loosely three.
    VagueHorizon(("couple of days", "couple days"), _fixed(2), _fixed(3)),
    # "A few" is three or more; past a week the user would have said "this week" or "soon".
    VagueHorizon(("few days", "several days", "coming days"), _fixed(3), _fixed(7)),
    # What is left of the calendar week (through Sunday, today included), up to the week ahead.
    VagueHorizon(
        ("rest of the week", "rest of this week", "this week", "this weeks", "this wk"),
        days_left_in_week,
        _fixed(7),
        dated=True,
    ),
    # The seven days ahead, or eight to take in the same weekday a week on.
    VagueHorizon(("the week ahead", "week ahead", "coming week"), _fixed(7), _fixed(8)),
    # The week ahead, up to the whole next calendar week (through the Sunday after this one).
    VagueHorizon(("next week",), _fixed(7), lambda today: days_left_in_week(today) + 7, dated=True),
    # Soon: at least a few days, at most two weeks (the tools' own default reach).
    VagueHorizon(("soon", "coming up"), _fixed(3), _fixed(14)),
)
"""Vague phrasings of a horizon, most specific first; the first that the request uses decides.

| phrase                                                   | accepted horizon_days          |
|----------------------------------------------------------|--------------------------------|
| next two weeks, couple of weeks, fortnight               | 14                             |
| couple of days, couple days                              | 2..3                           |
| few days, next few days, several days, coming days       | 3..7                           |
| this week, rest of the week, this wk                     | days left through Sunday..7    |
| the week ahead, coming week                              | 7..8                           |
| next week                                                | 7..days left through Sunday + 7|
| soon, coming up                                          | 3..14                          |

"Days left through Sunday" counts the request's local date: 3 on a Friday (Fri, Sat, Sun),
7 on a Monday. An explicit count of days or weeks overrides every row."""


def normalise_request(request: str) -> str:
    """Lower-cased, apostrophes dropped (so "whats" reads as "what's"), hyphens and runs of
    white space as single spaces."""
    text = request.lower().replace("'", "").replace("\u2019", "")
    return " ".join(text.replace("-", " ").split())


def _count(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token]


def explicit_horizons(request: str) -> list[int]:
    """Every explicit span of days in the request, in days: "next 5 days" -> 5, "in ten
    days" -> 10, "2 weeks" -> 14 (numbers as digits or spelled out, one to fourteen)."""
    text = normalise_request(request)
    days = [_count(m.group(1)) for m in EXPLICIT_DAYS.finditer(text)]
    weeks = [7 * _count(m.group(1)) for m in EXPLICIT_WEEKS.finditer(text)]
    return sorted({n for n in days + weeks if n > 0})


def _local_date(now: datetime | None) -> date | None:
    if now is None:
        return None
    return now.astimezone(LOCAL_TZ).date() if now.tzinfo is not None else now.date()


def vague_horizon_days(request: str, value: int, now: datetime | None) -> list[int]:
    """The `horizon_days` values that answer `request` as well as the reference's `value`.

    An explicit span ("next 5 days", "in ten days", "2 weeks") is exact: it accepts only
    itself. Otherwise the first row of `VAGUE_HORIZONS` whose phrase the request uses
    (case-insensitive, apostrophes optional) gives a range, counted from `now`'s local
    date (a naive `now` is local time). The result always holds `value`: when no phrase
    matches, when `value` lies outside what the words accept (the words then govern another
    call of the same turn, or the horizon came from something else, such as a due date), or
    when the range depends on the day and `now` is None, it is `[value]`.
    """
    if explicit_horizons(request):
        return [value]  # an explicit count is exact: nothing is widened
    text = normalise_request(request)
    rule = next((r for r in VAGUE_HORIZONS if r.matches(text)), None)
    if rule is None:
        return [value]
    accepted = rule.accepts(_local_date(now))
    return accepted if accepted is not None and value in accepted else [value]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _widen_horizon(options: Sequence[Any], request: str, now: datetime | None) -> list[Any]:
    out: list[Any] = []
    for option in options:
        if option == MAY_OMIT:
            continue
        widened = vague_horizon_days(request, option, now) if _is_int(option) else [option]
        out.extend(v for v in widened if v not in out)
    if MAY_OMIT in options:
        out.append(MAY_OMIT)
    return out


def _with_topics(options: Sequence[Any], topics: Sequence[str]) -> list[Any]:
    out = list(options)
    seen = {o.strip() for o in options if isinstance(o, str)}
    for topic in topics:
        text = topic.strip() if isinstance(topic, str) else ""
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def widen_accepted(
    tool: str,
    accepted: Mapping[str, Sequence[Any]],
    request: str,
    now: datetime | None,
    topics: Sequence[str],
) -> dict[str, list[Any]]:
    """A new accepted dict for one call of `tool`, widened from the user's words.

    `horizon_days` (when the tool has it and the reference gives it) accepts every value
    `vague_horizon_days` allows for each accepted integer (`now` is the conversation's clock;
    None leaves the day-dependent phrases unwidened), keeping "" (may omit) when it was
    there. Each `FREE_TEXT_KEYS` argument present gains `topics` (the titles of the items or
    events the call is about and the request it answers), stripped, non-empty, and not
    already listed. Every other argument keeps its list; `accepted` is not modified.
    """
    properties = load_registry()[tool].properties
    out = {key: list(options) for key, options in accepted.items()}
    if HORIZON_KEY in out and HORIZON_KEY in properties:
        out[HORIZON_KEY] = _widen_horizon(out[HORIZON_KEY], request, now)
    for key in FREE_TEXT_KEYS & out.keys():
        out[key] = _with_topics(out[key], topics)
    return out
