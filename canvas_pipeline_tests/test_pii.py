"""Tests for the PII gate: rule scrubber, placeholders, and the Piiranha wiring on a tiny local model."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canvas_pipeline.data.pii import (
    PIIRANHA_LABELS,
    NameList,
    PiiranhaScrubber,
    PiiSpan,
    PlaceholderMap,
    RuleScrubber,
    Scrubber,
    chunk_text,
    make_scrubber,
    map_group,
)
from canvas_pipeline.data.pii.piiranha import merge_spans

# --------------------------------------------------------------------------------------------------
# RuleScrubber
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule() -> RuleScrubber:
    return RuleScrubber(known_usernames=["Williammm23", "jdoe"])


@pytest.mark.parametrize(
    ("planted", "label"),
    [
        ("jane.doe@example.com", "EMAIL"),
        ("kp+canvas@vt.edu", "EMAIL"),
        ("540-555-0142", "PHONE"),
        ("(540) 555-0142", "PHONE"),
        ("540.555.0142", "PHONE"),
        ("+1 540 555 0142", "PHONE"),
        ("123-45-6789", "SSN"),
        ("1600 Main Street", "ADDRESS"),
        ("22 Oak Ave", "ADDRESS"),
        ("401 W Campus Dr Apt 4", "ADDRESS"),
        ("https://canvas.vt.edu/users/123456", "URL"),
        ("https://canvas.vt.edu/courses/4264/grades?user_id=42", "URL"),
        ("/profile/jdoe", "URL"),
        ("Williammm23", "USERNAME"),
        ("Emily Johnson", "PERSON"),
    ],
)
def test_rule_replaces_planted_pii(rule: RuleScrubber, planted: str, label: str) -> None:
    text = f"Note for Lab 3 Quiz: {planted} was mentioned on 2026-01-31."
    scrubbed, spans = rule.scrub(text, PlaceholderMap())
    assert [(s.label, s.text) for s in spans] == [(label, planted)]
    assert f"<{label}_1>" in scrubbed
    assert planted not in scrubbed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Email Dr. Jane Smith about Lab 2.", {("PERSON", "Jane Smith")}),
        ("Professor Smith moved the Midterm Exam.", {("PERSON", "Smith")}),
        ("Emily Johnson's report is late.", {("PERSON", "Emily Johnson")}),
        ("Instructor: Wall, TR Fall 2023", {("PERSON", "Wall")}),
        ("Ask TA Emily R. Johnson", {("PERSON", "Emily R. Johnson")}),
        ("ping @jsmith in the chat", {("USERNAME", "jsmith")}),
        ("username: kp93 and user jd_99", {("USERNAME", "kp93"), ("USERNAME", "jd_99")}),
        ("login: abcd", {("USERNAME", "abcd")}),
        ("username is jd_99", {("USERNAME", "jd_99")}),
        ('{"handle": "kleinpanic", "login_id": "k.p"}', {("USERNAME", "kleinpanic"), ("USERNAME", "k.p")}),
        ('{"contributor_id": "Someone77"}', {("USERNAME", "Someone77")}),
        ("JDOE submitted it", {("USERNAME", "JDOE")}),
    ],
)
def test_rule_contexts(rule: RuleScrubber, text: str, expected: set[tuple[str, str]]) -> None:
    assert {(s.label, s.text) for s in rule.detect(text)} == expected
    scrubbed, _ = rule.scrub(text, PlaceholderMap())
    for _, value in expected:
        assert not re.search(rf"(?<!\w){re.escape(value)}(?!\w)", scrubbed)


def test_rule_known_username_whole_token_only(rule: RuleScrubber) -> None:
    assert rule.detect("jdoe42 and xjdoe and jdoe-lab are other tokens") == []
    assert [s.text for s in rule.detect("from jdoe.")] == ["jdoe"]


def test_placeholder_numbering_is_stable_within_a_record(rule: RuleScrubber) -> None:
    text = "a@example.com, then b@example.com, then a@example.com again; call 540-555-0142 or +1 540 555 0142"
    scrubbed, spans = rule.scrub(text, PlaceholderMap())
    assert scrubbed == ("<EMAIL_1>, then <EMAIL_2>, then <EMAIL_1> again; call <PHONE_1> or <PHONE_1>")
    assert len(spans) == 5


def test_placeholder_map_numbers_per_type() -> None:
    pm = PlaceholderMap()
    assert pm.placeholder("EMAIL", "x@y.com") == "<EMAIL_1>"
    assert pm.placeholder("PERSON", "Jane") == "<PERSON_1>"
    assert pm.placeholder("EMAIL", "z@y.com") == "<EMAIL_2>"
    assert pm.placeholder("EMAIL", "X@Y.com") == "<EMAIL_1>"
    assert pm.placeholder("I-EMAIL", "x@y.com") == "<EMAIL_1>"
    assert pm.counts() == {"EMAIL": 2, "PERSON": 1}


def test_scrub_record_shares_one_map(rule: RuleScrubber) -> None:
    record = {
        "prompt": "Email jane.doe@example.com about Lab 1",
        "answer": "Sent to jane.doe@example.com and bob@example.com",
        "missing": None,
    }
    out, spans = rule.scrub_record(record)
    assert out == {
        "prompt": "Email <EMAIL_1> about Lab 1",
        "answer": "Sent to <EMAIL_1> and <EMAIL_2>",
        "missing": None,
    }
    assert [s.text for s in spans] == ["jane.doe@example.com", "jane.doe@example.com", "bob@example.com"]


def test_findings_ignore_placeholders(rule: RuleScrubber) -> None:
    text = (
        "Dr. Jane Smith (jane@vt.edu, 540-555-0142) lives at 1600 Main Street; see "
        "https://canvas.vt.edu/users/123456 or ask @jsmith / Williammm23."
    )
    scrubbed, spans = rule.scrub(text, PlaceholderMap())
    assert len(spans) == 7
    assert rule.findings(scrubbed) == []
    assert rule.findings("<PERSON_1> and <EMAIL_2> and <USERNAME_3>") == []


REAL_NEGATIVES = [
    "2026-01-31T04:00:00Z",
    "2026-01-31",
    "Due 2026-02-14T04:00:00+00:00 at 11:15",
    "CS_3724_22297_202601",
    "SPRING 2024_CHEM 1036 MWF 11:15 AM",
    "@COURSE1/5040 S26 OpenDSA",
    "@COURSE4: Intro to Software Design - Spring 2025",
    "FINAL EXAM @COURSE5  @COURSE6- Requires Respondus LockDown Browser",
    "COURSE049",
    "Item A as '[TYPE] Title @COURSEcode STATUS Npts'.",
    "course 4264 and course 101275",
    "100.0 points",
    '{"course_id":101275,"due_at":"2026-02-14T04:00:00+00:00","points":2.0}',
    "02.17 Bowling Test Coverage Example",
    "Lesson 1 Quiz",
    "Midterm Exam",
    "Green Chemistry Lab",
    "Grace period policy",
    "Grace Period Policy",
    "Final Project - Web (.html) Submission",
    "Soils Laboratory Fall 2024",
    "You have 3 assignments due in the next 7 days.",
    "<PERSON_1> asked <USERNAME_2> about <EMAIL_1>.",
    "Attend a Virginia Tech Diversity, Equity, and Inclusion Event",
    "Taylor Series and Shannon Entropy",
    "2025 Summer Session 2",
    "Meet with the Instructor",
    "TA Office Hours",
    "UTA Interest",
    "Extra Credit: Iris Professional Photo",
    "Participation Grade as of 12/11, 6 PM",
    "Peer-to-Peer Networking Opportunity: September 1 class meets in 1860 Litton-Reaves.",
    "The user asked about the login page; the user wants a summary.",
    "Enter your username and password; the username is required.",
    "https://canvas.vt.edu/courses/4264/assignments/101275",
    "Tuesday, Oct 10 6:30 pm",
    "CS_1014_Fall_2023",
]


@pytest.mark.parametrize("text", REAL_NEGATIVES)
def test_rule_does_not_flag_course_text(rule: RuleScrubber, text: str) -> None:
    assert rule.findings(text) == []


SAFE_WORDS = """
    Lab Quiz Exam Midterm Final Project Homework Chapter Module Lesson Report Reflection Review
    Spring Fall Summer Green Chemistry Grace period policy Virginia Tech Soils Laboratory Bowling
    Test Coverage Example Data Structures Algorithms Software Design Intro to and of the - :
    (online) Part II due points 100.0 2.0 4264 101275 2024 11:15 AM MWF 2026-01-31
    2026-01-31T04:00:00Z CS_3724_22297_202601 @COURSE1/5040 @COURSE4: COURSE049 02.17 S26 OpenDSA
    Web (.html) Submission Week 3 assignments in next 7 days. You have <PERSON_1> <EMAIL_2> Pre-Lab
    Mark Session Office Hours Series Summary
""".split()


@given(st.lists(st.sampled_from(SAFE_WORDS), min_size=1, max_size=25))
def test_property_safe_course_text_is_clean(words: list[str]) -> None:
    assert RULE.findings(" ".join(words)) == []


@given(
    st.lists(st.sampled_from(SAFE_WORDS), max_size=10),
    st.lists(st.sampled_from(SAFE_WORDS), max_size=10),
    st.from_regex(r"[a-z][a-z0-9._+-]{0,12}[a-z0-9]@[a-z]{2,10}(\.[a-z]{2,6}){1,2}", fullmatch=True),
)
def test_property_planted_email_is_removed(before: list[str], after: list[str], email: str) -> None:
    text = " ".join([*before, email, *after])
    scrubbed, spans = RULE.scrub(text, PlaceholderMap())
    assert email not in scrubbed
    assert any(s.label == "EMAIL" and s.text == email for s in spans)


RULE = RuleScrubber(known_usernames=["Williammm23"])


def test_rule_scrubber_accepts_custom_names() -> None:
    names = NameList(first=frozenset({"Zorblax"}), last=frozenset({"Quux"}))
    scrubber = RuleScrubber(names=names)
    assert [(s.label, s.text) for s in scrubber.detect("Zorblax Quux and Emily Johnson")] == [
        ("PERSON", "Zorblax Quux")
    ]


def test_detect_is_sorted_and_non_overlapping(rule: RuleScrubber) -> None:
    text = "jdoe@example.com jdoe Dr. Jane Smith 401 W Campus Dr Apt 4 (540) 555-0142"
    spans = rule.detect(text)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert [s.label for s in spans] == ["EMAIL", "USERNAME", "PERSON", "ADDRESS", "PHONE"]


# --------------------------------------------------------------------------------------------------
# Factory and import hygiene
# --------------------------------------------------------------------------------------------------


def test_make_scrubber() -> None:
    rule_scrubber = make_scrubber("rule", known_usernames=["Williammm23"])
    assert isinstance(rule_scrubber, RuleScrubber)
    assert rule_scrubber.findings("by Williammm23")[0].label == "USERNAME"
    piiranha = make_scrubber("piiranha", model="some/model")
    assert isinstance(piiranha, PiiranhaScrubber) and piiranha.model == "some/model"
    with pytest.raises(ValueError, match="rule, piiranha"):
        make_scrubber("regex")


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, canvas_pipeline.data.pii as p; p.PiiranhaScrubber(); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------------
# Piiranha wiring with fake pipelines
# --------------------------------------------------------------------------------------------------


def test_piiranha_labels_and_group_mapping() -> None:
    assert len(PIIRANHA_LABELS) == 18 and PIIRANHA_LABELS[17] == "O"
    assert map_group("GIVENNAME") == map_group("SURNAME") == "PERSON"
    assert map_group("TELEPHONENUM") == "PHONE"
    assert map_group("SOCIALNUM") == "SSN"
    assert map_group("BUILDINGNUM") == map_group("STREET") == "ADDRESS"
    assert map_group("IDCARDNUM") == "ID"
    assert map_group("I-EMAIL") == map_group("B-EMAIL") == "EMAIL"
    assert map_group("NEWTHING") == "NEWTHING"
    for label in PIIRANHA_LABELS.values():
        assert map_group(label)


@given(st.text(alphabet="ab \n", max_size=300), st.integers(min_value=1, max_value=40))
def test_chunk_text_invariants(text: str, max_chars: int) -> None:
    chunks = chunk_text(text, max_chars)
    rebuilt = [" "] * len(text)
    previous_end = 0
    for offset, chunk in chunks:
        assert offset >= previous_end
        assert text[offset : offset + len(chunk)] == chunk
        assert 0 < len(chunk) <= max_chars and chunk.strip()
        rebuilt[offset : offset + len(chunk)] = chunk
        previous_end = end = offset + len(chunk)
        if end < len(text) and not text[end].isspace() and not text[end - 1].isspace():
            # A word is only cut when the whole window held no whitespace.
            assert len(chunk) == max_chars and not any(c.isspace() for c in chunk)
    assert "".join(rebuilt).split() == text.split()


class RegexPipeline:
    """Fake transformers pipeline: tags every regex match in each chunk, recording its inputs."""

    def __init__(self, pattern: str, group: str, score: float = 0.99) -> None:
        self.regex = re.compile(pattern)
        self.group = group
        self.score = score
        self.calls: list[list[str]] = []
        self.strides: list[int | None] = []

    def __call__(self, inputs: list[str], batch_size: int = 1, stride: int | None = None) -> list[list[dict[str, Any]]]:
        self.calls.append(list(inputs))
        self.strides.append(stride)
        return [
            [
                {
                    "entity_group": self.group,
                    "score": self.score,
                    "word": m.group(),
                    "start": m.start(),
                    "end": m.end(),
                }
                for m in self.regex.finditer(chunk)
            ]
            for chunk in inputs
        ]


def factory_for(pipe: Callable[..., Any]) -> Callable[..., Callable[..., Any]]:
    def factory(task: str, **kwargs: Any) -> Callable[..., Any]:
        assert task == "token-classification" and kwargs["aggregation_strategy"] == "simple"
        return pipe

    return factory


def test_piiranha_offsets_map_back_on_whole_texts() -> None:
    pipe = RegexPipeline(r"\S+@\S+\.com", "I-EMAIL")
    scrubber = PiiranhaScrubber("fake", pipeline_factory=factory_for(pipe), stride=32)
    words = [f"user{i}@example.com" if i % 7 == 3 else f"word{i}" for i in range(120)]
    text = " ".join(words)
    spans = scrubber.detect(text)
    # The pipeline gets whole texts (it windows them by tokens itself) and the stride to do it with.
    assert pipe.calls == [[text]] and pipe.strides == [32]
    expected = [m.group() for m in re.finditer(r"\S+@\S+\.com", text)]
    assert [s.text for s in spans] == expected
    assert all(text[s.start : s.end] == s.text and s.label == "EMAIL" for s in spans)


def test_piiranha_merges_names_and_filters_low_scores() -> None:
    def pipe(inputs: list[str], **kwargs: Any) -> list[list[dict[str, Any]]]:
        return [
            [
                {"entity_group": "GIVENNAME", "score": 0.9, "word": "Jane", "start": 4, "end": 8},
                {"entity_group": "SURNAME", "score": 0.8, "word": "Smith", "start": 9, "end": 14},
                {"entity_group": "CITY", "score": 0.2, "word": "Blacksburg", "start": 18, "end": 28},
                {"entity_group": "TELEPHONENUM", "score": 0.9, "word": "540", "start": 32, "end": 36},
                {"entity_group": "TELEPHONENUM", "score": 0.9, "word": "555", "start": 37, "end": 40},
                {"entity_group": "SPACESHIP", "score": 0.9, "word": "X1", "start": 41, "end": 43},
            ]
            for _ in inputs
        ]

    text = "Ask Jane Smith in Blacksburg at  540-555 X1"
    scrubber = PiiranhaScrubber("fake", pipeline_factory=factory_for(pipe))
    assert [(s.label, s.text) for s in scrubber.detect(text)] == [
        ("PERSON", "Jane Smith"),
        ("PHONE", "540-555"),
        ("SPACESHIP", "X1"),
    ]
    assert scrubber.scrub(text, PlaceholderMap())[0] == "Ask <PERSON_1> in Blacksburg at  <PHONE_1> <SPACESHIP_1>"


def test_merge_spans_joins_pieces_but_not_across_lines() -> None:
    text = "Jane Smith\nBob at 540-555-0142"
    pieces = [
        PiiSpan(0, 4, "PERSON", "Jane"),
        PiiSpan(5, 10, "PERSON", "Smith"),
        PiiSpan(11, 14, "PERSON", "Bob"),
        PiiSpan(18, 21, "PHONE", "540"),
        PiiSpan(22, 25, "PHONE", "555"),
        PiiSpan(24, 30, "PHONE", "5-0142"),
    ]
    assert [(s.label, s.text) for s in merge_spans(text, pieces)] == [
        ("PERSON", "Jane Smith"),
        ("PERSON", "Bob"),
        ("PHONE", "540-555-0142"),
    ]


def test_partial_placeholder_overlap_is_trimmed() -> None:
    def pipe(inputs: list[str], **kwargs: Any) -> list[list[dict[str, Any]]]:
        return [[{"entity_group": "SURNAME", "score": 0.9, "word": "x", "start": 4, "end": 20}] for _ in inputs]

    text = "Ask <PERSON_1> Smith today"
    scrubber = PiiranhaScrubber("fake", pipeline_factory=factory_for(pipe))
    assert [(s.start, s.text) for s in scrubber.findings(text)] == [(15, "Smith")]
    assert scrubber.scrub(text, PlaceholderMap()) == (
        "Ask <PERSON_1> <PERSON_2> today",
        [PiiSpan(15, 20, "PERSON", "Smith")],
    )


def test_piiranha_is_lazy_and_batches_records() -> None:
    pipe = RegexPipeline(r"\S+@\S+\.com", "EMAIL")
    calls: list[dict[str, Any]] = []

    def factory(task: str, **kwargs: Any) -> Callable[..., Any]:
        calls.append(kwargs)
        return pipe

    scrubber = PiiranhaScrubber("fake-model", device=0, pipeline_factory=factory)
    assert calls == []
    out, spans = scrubber.scrub_record({"a": "mail a@x.com", "b": None, "c": "", "d": "a@x.com and b@x.com"})
    assert calls == [{"model": "fake-model", "aggregation_strategy": "simple", "device": 0}]
    assert len(pipe.calls) == 1 and pipe.calls[0] == ["mail a@x.com", "a@x.com and b@x.com"]
    assert pipe.strides == [None]  # a stand-in without a tokenizer gets the configured stride (none)
    assert out == {"a": "mail <EMAIL_1>", "b": None, "c": "", "d": "<EMAIL_1> and <EMAIL_2>"}
    assert len(spans) == 3


# --------------------------------------------------------------------------------------------------
# Piiranha wiring with a real (tiny, random, locally built) DeBERTa-v2 pipeline
# --------------------------------------------------------------------------------------------------

TOKENIZER_CORPUS = [
    "Contact jane.doe@example.com about the Lab 1 Quiz due 2026-01-31.",
    "Emily Johnson lives at 1600 Main Street, call 540-555-0142.",
    "You have 3 assignments due in the next 7 days for CS 3724.",
]


def _build_tiny_model(root: Path, winner: str, *, tagged: Sequence[str] = (), window: int = 512) -> Path:
    """Save a tiny random DeBERTa-v2 token classifier with a `window`-token context.

    Without `tagged`, its classifier bias makes `winner` always win. With `tagged`, it labels exactly
    the tokens in `tagged` as `winner` and every other token "O", whatever their context: every word
    embedding is one of two fixed vectors, the layers' output projections are zero (so each layer
    passes its residual through) and the classifier reads which vector a token carries.
    """
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import DebertaV2Config, DebertaV2ForTokenClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tok.train_from_iterator(TOKENIZER_CORPUS, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=window,
    )
    config = DebertaV2Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=window,
        position_biased_input=not tagged,
        pad_token_id=tok.token_to_id("[PAD]"),
        id2label=dict(PIIRANHA_LABELS),
        label2id={v: k for k, v in PIIRANHA_LABELS.items()},
    )
    torch.manual_seed(0)
    model = DebertaV2ForTokenClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.zero_()
        if tagged:
            ids = [tok.token_to_id(token) for token in tagged]
            assert None not in ids, f"not single tokens of the tiny vocabulary: {tagged}"
            embeddings = model.deberta.embeddings.word_embeddings.weight
            embeddings.zero_()
            embeddings[:, 2], embeddings[:, 3] = 1.0, -1.0
            for token_id in ids:
                embeddings[token_id] = 0.0
                embeddings[token_id, 0], embeddings[token_id, 1] = 1.0, -1.0
            for layer in model.deberta.encoder.layer:
                for dense in (layer.attention.output.dense, layer.output.dense):
                    dense.weight.zero_()
                    dense.bias.zero_()
            model.classifier.bias.zero_()
            model.classifier.weight[config.label2id[winner], 0] = 3.0
            model.classifier.weight[config.label2id["O"], 2] = 3.0
        else:
            model.classifier.bias.fill_(-5.0)
            model.classifier.bias[config.label2id[winner]] = 5.0
    out = root / f"{winner}-{window}-{'-'.join(tagged) or 'all'}"
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-piiranha")
    return {winner: _build_tiny_model(root, winner) for winner in ("I-EMAIL", "O")}


#: The tokens of "jane.doe@example.com" under the tiny tokenizer (its pre-tokenizer splits punctuation).
EMAIL_TOKENS = ("jane", ".", "doe", "@", "example", "com")


@pytest.fixture(scope="session")
def email_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with a 256-token window that tags only the tokens of jane.doe@example.com."""
    return _build_tiny_model(tmp_path_factory.mktemp("tiny-tagger"), "I-EMAIL", tagged=EMAIL_TOKENS, window=256)


def test_tiny_model_entity_group_has_no_bio_prefix(tiny_models: dict[str, Path]) -> None:
    scrubber = PiiranhaScrubber(str(tiny_models["I-EMAIL"]))
    raw = scrubber.pipeline(["contact jane now"], batch_size=2)
    assert raw[0][0]["entity_group"] == "EMAIL"
    text = "  Contact jane about Lab 1  "
    assert [(s.label, s.text) for s in scrubber.detect(text)] == [("EMAIL", "Contact jane about Lab 1")]
    scrubbed, spans = scrubber.scrub(text, PlaceholderMap())
    assert scrubbed == "  <EMAIL_1>  " and len(spans) == 1
    # Everything is "EMAIL" to this model, placeholders included, yet scrubbed text is not re-flagged.
    assert scrubber.detect(scrubbed) != []
    assert scrubber.findings(scrubbed) == []


def test_tiny_model_finds_entities_past_the_window_and_across_its_boundary(email_tagger: Path) -> None:
    email = "jane.doe@example.com"
    # "7" is one token, so each "7 " is one token of text: 256 - [CLS] - [SEP] = 254 fit in a window.
    straddling = "7 " * 250 + email + " 7" * 50  # the e-mail's tokens 250..256 cross the first window's end
    beyond = "7 " * 700 + email + " and " + "7 " * 20  # the e-mail starts at token 700, windows further on
    texts = [straddling, beyond, f"mail {email} now", "7 " * 300]
    scrubber = PiiranhaScrubber(str(email_tagger), batch_size=3)

    tokenizer = scrubber.pipeline.tokenizer
    assert tokenizer.model_max_length == 256 and scrubber.stride is None
    first = tokenizer(straddling, truncation=True, return_offsets_mapping=True)
    last_seen = max(end for _, end in first["offset_mapping"])
    assert straddling.index(email) < last_seen < straddling.index(email) + len(email)
    assert len(tokenizer(beyond)["input_ids"]) > 700 + len(EMAIL_TOKENS)
    for text in texts:
        assert text.count(email) <= 1 and "jane" not in text.replace(email, "")

    found = scrubber.detect_many(texts)
    for text, spans in zip(texts, found, strict=True):
        expected = [PiiSpan(text.index(email), text.index(email) + len(email), "EMAIL", email)] if email in text else []
        assert spans == expected, text[:40]
    assert scrubber.scrub(beyond, PlaceholderMap())[0] == "7 " * 700 + "<EMAIL_1> and " + "7 " * 20


def test_tiny_model_covers_an_entity_longer_than_the_overlap(tiny_models: dict[str, Path]) -> None:
    # Every token is "EMAIL" to this model: one entity over ~2900 tokens, read in windows of 512 that
    # overlap by 127. The pipeline on its own keeps only the longest of overlapping pieces; the
    # scrubber keeps them all and joins them, so the whole text is one span.
    scrubber = PiiranhaScrubber(str(tiny_models["I-EMAIL"]), batch_size=4)
    text = " ".join(f"quiz {i} is due for lab {i % 5}." for i in range(300))
    assert len(scrubber.pipeline.tokenizer(text)["input_ids"]) > 5 * 512
    assert scrubber.detect(text) == [PiiSpan(0, len(text), "EMAIL", text)]


def test_tiny_model_window_settings_are_checked(email_tagger: Path) -> None:
    with pytest.raises(ValueError, match=r"stride 254 must be less than the 254 text tokens of a 256-token window"):
        _ = PiiranhaScrubber(str(email_tagger), stride=254).pipeline
    with pytest.raises(ValueError, match="max_tokens must be positive"):
        PiiranhaScrubber(str(email_tagger), max_tokens=0)
    # A smaller window than the tokenizer's is honoured: the e-mail past token 100 is still found whole.
    scrubber = PiiranhaScrubber(str(email_tagger), max_tokens=64, stride=16)
    text = "7 " * 100 + "jane.doe@example.com"
    assert [(s.start, s.text) for s in scrubber.detect(text)] == [(200, "jane.doe@example.com")]
    assert scrubber.pipeline.tokenizer.model_max_length == 64


def test_tiny_model_flagging_nothing(tiny_models: dict[str, Path]) -> None:
    scrubber: Scrubber = PiiranhaScrubber(str(tiny_models["O"]))
    texts = ["Contact jane.doe@example.com about the Lab 1 Quiz", "", "Emily Johnson"]
    assert scrubber.detect_many(texts) == [[], [], []]
    assert scrubber.scrub(texts[0], PlaceholderMap()) == (texts[0], [])
