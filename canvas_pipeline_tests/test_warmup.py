"""The tiny base model's warm-up corpus: native tool-call conversations over several demo
terms, worded in command frames that never produce a bench sentence, gated like phase 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.data.phase4.overlap import phrasing_overlap
from canvas_pipeline.tools.registry import load_registry
from canvas_pipeline.training.base_model import first_call_rows
from canvas_pipeline.training.warmup import WARMUP_SEED, warmup_corpus


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return warmup_corpus(240, terms=3)


def _user_texts(messages: list[dict]) -> set[str]:
    return {str(m["content"]).strip().lower() for m in messages if m["role"] == "user"}


def test_rows_come_from_every_term_in_equal_shares(corpus: list[dict]) -> None:
    assert len(corpus) == 240
    prefixes = {row["id"].split("-")[0] for row in corpus}
    assert prefixes == {f"warmup{WARMUP_SEED + k}" for k in range(3)}


def test_every_call_names_a_registry_tool_and_every_tool_is_called(corpus: list[dict]) -> None:
    names = set(load_registry().names)
    calls = [c for row in corpus for m in row["messages"] for c in m.get("tool_calls") or []]
    assert calls and {c["function"]["name"] for c in calls} <= names
    assert {c["function"]["name"] for c in calls} == names, "every tool appears in the warm-up"


def test_no_warmup_request_is_a_bench_sentence(corpus: list[dict], real_slice: Path) -> None:
    bench = read_jsonl(real_slice / "phase4" / "benchmark.jsonl")
    bench_texts = set().union(*(_user_texts(item["prompt"]) for item in bench))
    warm_texts = set().union(*(_user_texts(row["messages"]) for row in corpus))
    assert warm_texts and not warm_texts & bench_texts


def test_the_whole_warmup_shares_no_phrasing_with_the_bench(real_slice: Path) -> None:
    """The tiny base's full corpus, against the bench the BENCH_PHRASING check judges phase 1 by."""
    from canvas_pipeline.training.profiles import get_profile

    bench = read_jsonl(real_slice / "phase4" / "benchmark.jsonl")
    corpus = warmup_corpus(get_profile("tiny").budget.warmup_rows)
    overlap = phrasing_overlap(bench, [row["messages"] for row in corpus])
    assert overlap.verbatim == 0 and overlap.skeleton == 0, overlap.examples


def test_first_call_rows_end_at_the_first_assistant_turn_or_stay_whole(corpus: list[dict]) -> None:
    cut = first_call_rows(corpus)
    assert len(cut) == len(corpus)
    for original, row in zip(corpus, cut, strict=True):
        if row["messages"] == original["messages"]:
            continue
        assert row["messages"] == original["messages"][: len(row["messages"])]
        assert row["messages"][-1]["role"] == "assistant"
        assert sum(m["role"] == "assistant" for m in row["messages"]) == 1
    assert any(r["messages"] != o["messages"] for r, o in zip(cut, corpus, strict=True)), "some rows are cut"
