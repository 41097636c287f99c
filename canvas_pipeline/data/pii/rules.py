"""Offline rule-based PII detector: regexes plus a first/last names list used only in context."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from canvas_pipeline.data.pii.scrubber import PiiSpan, Scrubber, resolve_overlaps


@dataclass(frozen=True)
class NameList:
    """Known given names and surnames (capitalized, e.g. "Emily", "Johnson")."""

    first: frozenset[str]
    last: frozenset[str]

    @classmethod
    def from_faker(cls) -> NameList:
        """The en_US first/last names shipped with faker."""
        return _faker_names()


@lru_cache(maxsize=1)
def _faker_names() -> NameList:
    from faker.providers.person.en_US import Provider

    return NameList(first=frozenset(Provider.first_names), last=frozenset(Provider.last_names))


# Given names that are also ordinary capitalized words ("Grace period", "Taylor Series", "Virginia Tech",
# "Summer Session"): they start a PERSON only when followed by a known surname.
AMBIGUOUS_FIRST_NAMES = frozenset(
    """
    Amber Angel April Ariel Austin Autumn Bill Billy Bob Brooke Carol Chase Christian Cole Crystal Daisy
    Dakota Dale Dawn Dean Destiny Diamond Don Drew Earl Eugene Faith Frank Gene Glen Glenn Gordon Grace
    Grant Guy Hayden Heather Holly Hunter Jack Jade Jordan Joy Kent Lance Lee Logan Mark Mason Max
    Melody Mercedes Misty Morgan Norman Paige Parker Penny Raven Ray Regina Rick Rose Sandy Savannah
    Shannon Sierra Spencer Sue Summer Sydney Tanner Taylor Victoria Virginia Wayne
    """.split()
)

# Capitalized words common in course/assignment titles and academic prose. They never count as the
# surname after a given name, nor as the name after a weak context word ("Professor Emeritus").
COMMON_WORDS = frozenset(
    """
    Academic Activity Analysis Announcement Announcements App Assessment Assignment Assignments Attendance
    Average Award Bonus Book Break Building Calendar Campus Career Case Center Chapter Chemistry Class
    Club College Community Contract Course Credit Data Day Deadline Department Design Discussion Draft
    Due Emeritus Engineering Essay Event Events Exam Exams Exercise Exercises Extra Fair Fall Fest
    Festival Final Food Form Forum Grade Grades Group Guide Hall Health Homework Hour Hours Institute
    Interest Interview Intro Introduction Lab Labs Laboratory Law Laws Lecture Lesson Letter Library
    Meeting Memo Method Methods Midterm Model Models Module Notebook Notes Office Outline Overview Paper
    Part Participation Period Phase Photo Points Policy Portfolio Practice Presentation Prize Problem
    Professional Program Project Quiz Quizzes Reading Reflection Report Research Resume Review Room
    Schedule Scholarship School Science Section Semester Series Session Set Seminar Software Spring
    Statement Student Students Study Submission Summary Survey Syllabus System Systems Team Tech Term
    Test Tests Theorem Topic Total Tutorial Unit University Week Winter Workshop
    January February March April May June July August September October November December
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    Black Blue Brown Gold Golden Gray Green Grey Orange Purple Red White Yellow
    """.split()
)

_NAME_WORD = r"(?:[A-Z]')?[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?"
_NAME_TOKEN_RE = re.compile(rf"(?<![\w@<>'-]){_NAME_WORD}(?![\w-])")
_MIDDLE_INITIAL_RE = re.compile(r"\s+[A-Z]\.\s+|\s+")

EMAIL_RE = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# NANP numbers with separators; area code and exchange start with 2-9, which keeps dates and ids out.
PHONE_RE = re.compile(
    r"(?<![\w+.-])(?:\+1[\s.-]?|1[\s.-])?"
    r"(?:\(\s*[2-9]\d{2}\s*\)\s?|[2-9]\d{2}[\s.-])"
    r"[2-9]\d{2}[\s.-]\d{4}(?![\w-]|\.\d)"
)

SSN_RE = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")

_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Drive|Dr|Lane|Ln|Boulevard|Blvd|Court|Ct|Circle|Cir|Place|Pl|"
    r"Parkway|Pkwy|Terrace|Ter|Highway|Hwy|Way|Trail|Trl|Square|Sq|Pike|Turnpike|Alley)"
)
ADDRESS_RE = re.compile(
    r"(?<![\w.,/:-])\d{1,6}[A-Za-z]?\s+"
    r"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
    r"(?:(?:[A-Z][a-z]+(?:-[A-Z][a-z]+)?|\d+(?:st|nd|rd|th))\s+){1,3}"
    rf"{_STREET_SUFFIX}\b\.?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Room|Rm)\.?\s*#?\s*[A-Za-z0-9-]+|,?\s+#\s*[A-Za-z0-9-]+)?"
)

# A URL-ish token (scheme-less paths included) and the user-identifying parts it must carry to be PII.
_URL_TOKEN_RE = re.compile(r"[^\s<>\"'`()\[\]{}]+")
_USER_URL_MARK_RE = re.compile(
    r"/users?/\d+|/(?:profile|profiles|people|u|~)/[\w.-]+|/~[\w.-]+"
    r"|[?&](?:user_?id|uid|user|student_?id|login|login_id|username|as_user_id)=[^&\s#]+",
    re.IGNORECASE,
)
_TRAILING_PUNCT = ".,;:!?"

# "@handle", except anonymization markers: "@COURSE1", "@COURSEcode", any upper-case word plus digits.
HANDLE_RE = re.compile(r"(?<![\w.%+@-])@(?!COURSE|[A-Z]+\d+(?!\w))([A-Za-z0-9_](?:[\w.-]*\w)?)")

# After "username:"/"login=" (JSON keys too) any token is a username; without the separator only a
# token-like value (with a digit or underscore) is, so "the user asked", "username and password" stay clean.
_USER_CONTEXT_RE = re.compile(
    r"\b(?:user[\s_]?name|user|login(?:[\s_]?id)?|net[\s_]?id|handle|contributor[\s_]?id)\b"
    r"(?:[\"']?\s*[:=]\s*[\"']?(?P<a>[A-Za-z0-9_][\w.-]*\w|[A-Za-z0-9_])"
    r"|\s+(?:is\s+)?(?P<b>[A-Za-z]*[\d_][\w.-]*\w|[A-Za-z]*[\d_]))",
    re.IGNORECASE,
)

_NAME_TAIL = rf"(?P<n>{_NAME_WORD})(?:(?:\s+[A-Z]\.)?\s+(?P<m>{_NAME_WORD}))?(?!\w)"
# Honorifics with their period take any capitalized word; "Dr" needs the period so "Campus Dr Apt"
# (an address) is not read as a title.
_TITLE_RE = re.compile(rf"(?<![\w.])(?:Dr|Prof|Mr|Mrs|Ms|Mx)\.\s+{_NAME_TAIL}")
# Weaker contexts: the name must not be a common title word ("Professor Emeritus", "TA: Review").
_WEAK_TITLE_RE = re.compile(rf"(?<![\w.])(?:Professor|Prof|Mr|Mrs|Ms|Mx)\s+{_NAME_TAIL}")
_ROLE_COLON_RE = re.compile(rf"(?<!\w)(?:[Ii]nstructor|TA|[Tt]eacher|[Pp]rofessor)\s*:\s*{_NAME_TAIL}")
# Bare roles ("TA Office Hours", "Instructor Guide") only count before a listed name.
_ROLE_RE = re.compile(rf"(?<!\w)(?:Instructor|TA)\s+{_NAME_TAIL}")


class RuleScrubber(Scrubber):
    """Regex + names-list detector; the offline default when Piiranha is not available."""

    name = "rule"

    def __init__(
        self, known_usernames: Iterable[str] = (), names: NameList | None = None, safe_tokens: Iterable[str] = ()
    ) -> None:
        self.names = names if names is not None else NameList.from_faker()
        # Vocabulary already cleared by the gate (course codes after scrubbing): "@CS_3114_202601"
        # in a reranker item string is a course reference, not a handle.
        self.safe_tokens = frozenset(t.strip() for t in safe_tokens if t.strip())
        # Very short usernames would match ordinary words; they are left to the context rules.
        usernames = sorted({u.strip() for u in known_usernames if len(u.strip()) >= 3}, key=len, reverse=True)
        self.known_usernames = tuple(usernames)
        self._username_re = (
            re.compile(
                r"(?<![\w.@-])(?:" + "|".join(re.escape(u) for u in usernames) + r")(?![\w-]|\.\w|@)",
                re.IGNORECASE,
            )
            if usernames
            else None
        )

    def detect(self, text: str) -> list[PiiSpan]:
        """All rule matches, longest-leftmost wins where rules overlap."""
        if not text:
            return []
        spans: list[PiiSpan] = []
        spans += _regex_spans(EMAIL_RE, text, "EMAIL")
        spans += _regex_spans(PHONE_RE, text, "PHONE")
        spans += _regex_spans(SSN_RE, text, "SSN")
        spans += _regex_spans(ADDRESS_RE, text, "ADDRESS")
        spans += list(self._urls(text))
        spans += list(self._usernames(text))
        spans += list(self._persons(text))
        return resolve_overlaps(spans)

    def _urls(self, text: str) -> Iterator[PiiSpan]:
        for m in _URL_TOKEN_RE.finditer(text):
            token, start = m.group(), m.start()
            if not _USER_URL_MARK_RE.search(token):
                continue
            scheme = re.search(r"https?://|www\.", token)
            if scheme:
                start += scheme.start()
                token = token[scheme.start() :]
            token = token.rstrip(_TRAILING_PUNCT)
            yield PiiSpan(start, start + len(token), "URL", token)

    def _usernames(self, text: str) -> Iterator[PiiSpan]:
        if self._username_re is not None:
            yield from _regex_spans(self._username_re, text, "USERNAME")
        for m in HANDLE_RE.finditer(text):
            if not any(text.startswith(token, m.start(1)) for token in self.safe_tokens):
                yield PiiSpan(m.start(1), m.end(1), "USERNAME", m.group(1))
        for m in _USER_CONTEXT_RE.finditer(text):
            group = "a" if m.group("a") is not None else "b"
            yield PiiSpan(m.start(group), m.end(group), "USERNAME", m.group(group))

    def _persons(self, text: str) -> Iterator[PiiSpan]:
        first, last = self.names.first, self.names.last
        contexts = (
            (_TITLE_RE, False, False),
            (_WEAK_TITLE_RE, True, False),
            (_ROLE_COLON_RE, True, False),
            (_ROLE_RE, True, True),
        )
        for regex, veto_common, need_listed in contexts:
            for m in regex.finditer(text):
                name = m.group("n")
                if veto_common and name in COMMON_WORDS:
                    continue
                if need_listed and name not in first and name not in last:
                    continue
                end = m.end("n")
                second = m.group("m")
                if second is not None and second not in COMMON_WORDS:
                    end = m.end("m")
                yield PiiSpan(m.start("n"), end, "PERSON", text[m.start("n") : end])
        tokens = list(_NAME_TOKEN_RE.finditer(text))
        for a, b in zip(tokens, tokens[1:], strict=False):
            given, surname = a.group(), b.group()
            if given not in first or not _MIDDLE_INITIAL_RE.fullmatch(text[a.end() : b.start()]):
                continue
            if surname in COMMON_WORDS:
                continue
            if given in AMBIGUOUS_FIRST_NAMES and surname not in last:
                continue
            yield PiiSpan(a.start(), b.end(), "PERSON", text[a.start() : b.end()])


def _regex_spans(regex: re.Pattern[str], text: str, label: str) -> list[PiiSpan]:
    return [PiiSpan(m.start(), m.end(), label, m.group()) for m in regex.finditer(text)]
