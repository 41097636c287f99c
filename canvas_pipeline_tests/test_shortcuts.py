"""G14 on the real exports: a classifier that never sees the prompt cannot pick the right
side of the pipeline's own preference pairs or KTO rows on the context-dependent axes, and
a planted shortcut (a marker only wrong sides carry) fails it, naming the axes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer

from canvas_pipeline.guardrails import CheckConfig, load_bundle, run_guardrails
from canvas_pipeline.guardrails.shortcuts import (
    AXIS_THRESHOLD,
    CONTEXT_AXES,
    MIN_DF,
    OVERALL_THRESHOLD,
    TOKEN_PATTERN,
    NgramCounts,
)

MARKER = "Sure!"


def _g14(folder: Path) -> Any:
    (result,) = run_guardrails(load_bundle(folder, datasets=("phase2", "phase3"), stages=()), CheckConfig(), ["G14"])
    return result


@pytest.fixture(scope="module")
def clean(real_slice: Path) -> Any:
    return _g14(real_slice)


def test_pipeline_pairs_and_kto_rows_carry_no_prompt_blind_shortcut(clean: Any) -> None:
    assert clean.passed is True, clean.details
    for dataset in ("phase2", "phase3"):
        scores = clean.value[dataset]
        assert scores["overall"] <= OVERALL_THRESHOLD
        for axis in CONTEXT_AXES:
            accuracy = scores["per_axis"].get(str(axis))
            assert accuracy is None or accuracy <= AXIS_THRESHOLD, (dataset, axis, accuracy)
    # measured, not assumed: the context axes of the pairs all have enough rows to judge
    assert all(clean.value["phase2"]["per_axis"][str(a)] is not None for a in CONTEXT_AXES)
    # the axes whose wrong side is wrong anywhere are reported (and are far above chance)
    assert clean.value["phase2"]["per_axis"]["6"] > 0.9


def _plant(real_slice: Path, out: Path, dataset: str, wrong: Any) -> Path:
    """A copy of the folder where every wrong side of `dataset` starts with MARKER."""
    shutil.copytree(real_slice, out)
    path = out / {"phase2": "phase2/dpo_pairs.jsonl", "phase3": "phase3/kto_feedback.jsonl"}[dataset]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        for message in wrong(row):
            message["content"] = f"{MARKER} {message.get('content') or ''}"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def test_a_marker_on_every_rejected_side_fails_g14_naming_the_axes(real_slice: Path, tmp_path: Path) -> None:
    planted = _g14(_plant(real_slice, tmp_path / "planted", "phase2", lambda r: r["rejected"]))
    assert planted.passed is False
    for axis in CONTEXT_AXES:
        assert planted.value["phase2"]["per_axis"][str(axis)] > 0.95
        assert any(d.startswith(f"phase2 axis {axis}: prompt-blind accuracy") for d in planted.details), planted.details
    assert any(d.startswith("phase2 all rows") for d in planted.details)


def test_a_marker_on_undesirable_kto_rows_fails_g14(real_slice: Path, tmp_path: Path) -> None:
    planted = _g14(_plant(real_slice, tmp_path / "planted", "phase3", lambda r: [] if r["label"] else r["completion"]))
    assert planted.passed is False
    assert any(d.startswith("phase3 axis 8: prompt-blind accuracy") for d in planted.details), planted.details
    assert not any(d.startswith("phase2") for d in planted.details)


def test_too_few_pairs_to_score_is_not_run_not_pass(real_slice: Path, tmp_path: Path) -> None:
    folder = tmp_path / "few"
    (folder / "phase2").mkdir(parents=True)
    lines = (real_slice / "phase2" / "dpo_pairs.jsonl").read_text().splitlines()[:10]
    (folder / "phase2" / "dpo_pairs.jsonl").write_text("\n".join(lines) + "\n")
    result = _g14(folder)
    assert result.passed is None and result.status == "NOT RUN" and "phase2" in result.reason


WORDS = st.sampled_from(["call", "canvas.get_assignments", "<|tool_call>", "{", "}", "7", "due", "Sure", "!", "x_y"])


@settings(max_examples=60)
@given(
    texts=st.lists(st.lists(WORDS, min_size=0, max_size=8).map(" ".join), min_size=2, max_size=12),
    data=st.data(),
)
def test_one_count_matrix_gives_each_fold_the_features_of_a_vectorizer_fitted_on_it(
    texts: list[str], data: st.DataObject
) -> None:
    """G14 counts every text's n-grams once; a fold's features are the columns two of its
    training texts hold. Those are exactly the features, in the order, and the counts of a
    `CountVectorizer(min_df=2)` fitted on the fold's texts, for the fold's texts and for
    held-out ones."""
    fold = data.draw(st.lists(st.sampled_from(texts), min_size=1, max_size=len(texts)))
    held = data.draw(st.lists(st.sampled_from(texts), min_size=1, max_size=4))
    ngrams = NgramCounts(texts)
    fitted = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False, ngram_range=(1, 2), min_df=MIN_DF)
    try:
        fitted.fit(fold)
    except ValueError:  # no n-gram in two of the fold's texts
        with pytest.raises(ValueError, match="no n-gram occurs"):
            ngrams.fold_columns(fold)
        return
    columns = ngrams.fold_columns(fold)
    for subset in (fold, held):
        ours = ngrams.counts(subset)[:, columns].toarray()
        assert (ours == fitted.transform(subset).toarray()).all()
    assert len(columns) == len(fitted.vocabulary_)
