"""How a student names a course, and answers that never show registrar strings.

The exports name courses as the registrar does (`CHEM_1045_72468_202609`) and, after
anonymisation, with placeholders (`General Chemistry @COURSE5 Wall TR Fall 2023`, item
titles like `Hash Functions [@COURSE1/5040 S26 OpenDSA]`). Tool responses keep them as
Canvas returns them; a model's answer should not: it says "CHEM 1045" or "General
Chemistry", as a student would."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SIS_CODE = re.compile(r"\b([A-Z]{2,5})_(\d{4})_\d{4,6}_\d{6}\b")
PLACEHOLDER = re.compile(r"@COURSE\d*")
_BRACKETED_PLACEHOLDER = re.compile(r"\s*[\[(][^\])\n]*@COURSE\d*[^\])\n]*[\])]")
_LEADING_CODE = re.compile(r"^([A-Z]{2,5})_(\d{4})(?:_|$)")
_NUMBER_TAG = re.compile(r"\(\d+\)")
_TERM = re.compile(r"\b(?:Fall|Spring|Summer|Winter)\s+\d{4}\b")
MAX_NAME = 48


def course_label(code: str) -> str:
    """`CHEM_1045_72468_202609` -> `CHEM 1045`; a code that is not a registrar code as it is,
    placeholders removed."""
    match = _LEADING_CODE.match(code)
    if match:
        return f"{match.group(1)} {match.group(2)}"
    return _tidy(PLACEHOLDER.sub("", code)) or code


def _tidy(text: str) -> str:
    return " ".join(text.split()).strip(" -,:/")


def spoken_name(name: str, code: str) -> str:
    """The course's name without placeholders, registrar tags or the term; its label when
    nothing is left."""
    text = _BRACKETED_PLACEHOLDER.sub("", name)
    text = _tidy(_TERM.sub("", _NUMBER_TAG.sub("", PLACEHOLDER.sub("", text))))
    if len(text) < 3:
        return course_label(code)
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 3].rstrip() + "..."


def clean_text(text: str) -> str:
    """Placeholders (and the brackets that hold them) removed, registrar codes as labels."""
    text = _BRACKETED_PLACEHOLDER.sub("", text)
    text = PLACEHOLDER.sub("", text)
    text = SIS_CODE.sub(lambda m: f"{m.group(1)} {m.group(2)}", text)
    return re.sub(r"[ \t]{2,}", " ", text)


def student_facing(text: str, courses: Iterable[tuple[str, str, str]]) -> str:
    """An answer as a student would read it: each course's name (full or shortened) by its
    spoken name, its code by its label, then `clean_text`. `courses` holds (name,
    short_name, code) triples."""
    mapping: dict[str, str] = {}
    for name, short, code in courses:
        spoken = spoken_name(name, code)
        for old, new in ((name, spoken), (short, spoken), (code, course_label(code))):
            if old and old != new:
                mapping.setdefault(old, new)
    return clean_text(_replace_all(text, mapping))


def _replace_all(text: str, mapping: Mapping[str, str]) -> str:
    if not mapping:
        return text
    pattern = re.compile("|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True)))
    return pattern.sub(lambda m: mapping[m.group(0)], text)


def leaks(text: str) -> list[str]:
    """Placeholders and registrar codes an answer shows (what none may)."""
    return PLACEHOLDER.findall(text) + [m.group(0) for m in SIS_CODE.finditer(text)]
