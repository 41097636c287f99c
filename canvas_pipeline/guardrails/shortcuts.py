"""G14: can a model tell the right side from the wrong one without reading the prompt?

A preference pair (or a KTO row) teaches tool use only when which side is right depends on
the conversation so far. If a classifier that sees the completions alone, never the
prompt, picks the chosen side far above chance, the data carries a shortcut (a marker only
rejected sides have, the longer side always losing, a closed list of wrong values) and a
preference method can score well on it while learning nothing about the tools.

The classifier is a bag of n-grams (words, tool names and Gemma-4 control tokens) with a
logistic regression, scored out of fold with grouped cross-validation: all rows made from
one source trajectory are in the same fold, so a trajectory's own wording cannot carry
over. Pairs are scored as a difference of the two sides' counts and trained in both
orders with no intercept, so the verdict does not depend on which side is listed first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

# Axes whose wrong side is wrong only given the conversation (over- or under-calling, order,
# the family the request needs, stopping or going on): a prompt-blind score above the
# threshold on any of them means the data teaches a shortcut. Axes 1, 2, 3 and 6 (a name not
# in the registry, an invented key, a broken envelope) are wrong in any context and are
# reported, not gated.
CONTEXT_AXES = (4, 5, 7, 8)
AXIS_THRESHOLD = 0.75
OVERALL_THRESHOLD = 0.85
MIN_ROWS = 20  # fewer rows than this on an axis: reported (None), too few to judge
TOKEN_PATTERN = r"<\|?[a-z_]+\|?>|[A-Za-z_][\w.]*|\d+|[^\s\w]"


@dataclass(frozen=True)
class ShortcutRow:
    """One row as the classifier sees it: the completions only (a pair: chosen then
    rejected; a KTO row: its one completion and label), the axes it is labelled with
    (empty for desirable rows) and the group (source trajectory) it must not be split from."""

    texts: tuple[str, ...]
    axes: tuple[int, ...]
    group: str
    label: bool = True  # KTO: desirable?


@dataclass(frozen=True)
class ShortcutScores:
    overall: float | None
    per_axis: dict[str, float | None]  # "4" -> accuracy; "mixed" for multi-axis pairs
    rows: dict[str, int]

    def offenders(self) -> list[str]:
        out = [
            f"axis {axis}: prompt-blind accuracy {self.per_axis[str(axis)]:.1%} > {AXIS_THRESHOLD:.0%} "
            f"({self.rows[str(axis)]} rows)"
            for axis in CONTEXT_AXES
            if (self.per_axis.get(str(axis)) or 0.0) > AXIS_THRESHOLD
        ]
        if self.overall is not None and self.overall > OVERALL_THRESHOLD:
            out.append(f"all rows: prompt-blind accuracy {self.overall:.1%} > {OVERALL_THRESHOLD:.0%}")
        return out


# Newton-CG reaches the (unique, L2-regularized) optimum in a few second-order steps where
# L-BFGS takes hundreds of gradient steps on these sparse count features: half the time on
# the real exports, with scores that differ from L-BFGS's (and Newton-Cholesky's) by at most
# one pair of an axis's 225, where a near-tie fell to the other side of zero.
SOLVER = "newton-cg"
MIN_DF = 2  # an n-gram counts as a feature when two of a fold's training texts hold it


class NgramCounts:
    """Every text's n-gram counts, computed once for all folds and axes.

    A `CountVectorizer(min_df=2)` fitted on a fold's training texts keeps the n-grams that two
    of those texts hold, in sorted order; here each fold takes exactly those columns of one
    matrix over every text (whose vocabulary is sorted too), so its features, their order and
    every count are the ones a vectorizer fitted per fold gives, without tokenizing each text
    again for every fold and axis."""

    def __init__(self, texts: Sequence[str]) -> None:
        unique = list(dict.fromkeys(texts))
        self._row = {text: i for i, text in enumerate(unique)}
        vectorizer = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False, ngram_range=(1, 2))
        try:
            self._matrix = vectorizer.fit_transform(unique).tocsr()
        except ValueError:  # not one token in any text: no features (fold_columns says so)
            self._matrix = sparse.csr_matrix((len(unique), 0), dtype=np.int64)

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The texts' rows, all columns."""
        return self._matrix[[self._row[t] for t in texts]]

    def fold_columns(self, texts: Sequence[str]) -> np.ndarray:
        """The columns a vectorizer fitted on `texts` would keep (document frequency >= MIN_DF)."""
        frequency = np.asarray((self.counts(texts) > 0).sum(axis=0)).ravel()
        columns = np.flatnonzero(frequency >= MIN_DF)
        if columns.size == 0:
            raise ValueError(f"no n-gram occurs in {MIN_DF} of the fold's {len(texts)} training texts")
        return columns


def _folds(groups: Sequence[str], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n_groups = len(set(groups))
    if n_groups < 2:
        return []
    splitter = GroupKFold(n_splits=min(5, n_groups), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(groups)), groups=list(groups)))


def _texts(rows: Sequence[ShortcutRow]) -> list[str]:
    return [t for r in rows for t in r.texts]


def pair_accuracy(rows: Sequence[ShortcutRow], seed: int = 0, ngrams: NgramCounts | None = None) -> float | None:
    """Out-of-fold share of pairs whose chosen side the prompt-blind classifier ranks above
    the rejected one (a tie counts half); None below MIN_ROWS pairs or two groups. `ngrams`
    must cover every text of `rows` (built from them when not given)."""
    if len(rows) < MIN_ROWS:
        return None
    folds = _folds([r.group for r in rows], seed)
    if not folds:
        return None
    ngrams = ngrams or NgramCounts(_texts(rows))

    def side_difference(indices: np.ndarray, columns: np.ndarray) -> sparse.csr_matrix:
        chosen = ngrams.counts([rows[i].texts[0] for i in indices])[:, columns]
        return chosen - ngrams.counts([rows[i].texts[1] for i in indices])[:, columns]

    correct = 0.0
    for train, test in folds:
        columns = ngrams.fold_columns([t for i in train for t in rows[i].texts])
        diff = side_difference(train, columns)
        x = sparse.vstack([diff, -diff])
        y = np.r_[np.ones(diff.shape[0]), np.zeros(diff.shape[0])]
        model = LogisticRegression(fit_intercept=False, solver=SOLVER, max_iter=2000, random_state=seed).fit(x, y)
        score = side_difference(test, columns) @ model.coef_.ravel()
        correct += float((score > 0).sum() + 0.5 * (score == 0).sum())
    return round(correct / len(rows), 4)


def single_predictions(rows: Sequence[ShortcutRow], seed: int = 0) -> np.ndarray | None:
    """Out-of-fold desirable/undesirable predictions for KTO rows from their completions
    alone; None when a class is missing or rows are too few."""
    labels = np.array([r.label for r in rows])
    if len(rows) < MIN_ROWS or labels.all() or not labels.any():
        return None
    folds = _folds([r.group for r in rows], seed)
    if not folds:
        return None
    ngrams = NgramCounts([r.texts[0] for r in rows])
    predicted = np.zeros(len(rows), dtype=bool)
    for train, test in folds:
        if len(set(labels[train])) < 2:
            predicted[test] = labels[train][0]
            continue
        train_texts = [rows[i].texts[0] for i in train]
        columns = ngrams.fold_columns(train_texts)
        model = LogisticRegression(solver=SOLVER, max_iter=2000, class_weight="balanced", random_state=seed)
        model.fit(ngrams.counts(train_texts)[:, columns], labels[train])
        predicted[test] = model.predict(ngrams.counts([rows[i].texts[0] for i in test])[:, columns])
    return predicted


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    recalls = [float((predicted[labels == v] == v).mean()) for v in (True, False) if (labels == v).any()]
    return round(sum(recalls) / len(recalls), 4)


def _axis_key(axes: tuple[int, ...]) -> str | None:
    if not axes:
        return None
    return str(axes[0]) if len(axes) == 1 else "mixed"


def shortcut_scores(rows: Sequence[ShortcutRow], kind: str, seed: int = 0) -> ShortcutScores:
    """Prompt-blind accuracy on all rows and per axis (chance is 50%).

    Pairs ("preference"): each axis gets a classifier of its own, so a shortcut one axis
    carries cannot drown in the others. KTO rows ("kto"): one classifier over all rows, as
    KTO trains on all of them; an axis's score is its balanced accuracy on that axis's
    undesirable rows and every desirable row. (A classifier fitted to one axis's few
    undesirable rows against every desirable row would score the tools that axis happens to
    use, not a marker the data carries.)"""
    keys = sorted({k for r in rows if (k := _axis_key(r.axes))}, key=lambda k: (k == "mixed", k))
    counts = {key: sum(_axis_key(r.axes) == key for r in rows) for key in keys}
    per_axis: dict[str, float | None] = {}
    if kind == "preference":
        ngrams = NgramCounts(_texts(rows))
        for key in keys:
            subset = [r for r in rows if _axis_key(r.axes) == key]
            per_axis[key] = pair_accuracy(subset, seed, ngrams) if counts[key] >= MIN_ROWS else None
        return ShortcutScores(pair_accuracy(rows, seed, ngrams), per_axis, counts)
    predicted = single_predictions(rows, seed)
    labels = np.array([r.label for r in rows])
    if predicted is None:
        return ShortcutScores(None, dict.fromkeys(keys), counts)
    for key in keys:
        mask = np.array([r.label or _axis_key(r.axes) == key for r in rows])
        per_axis[key] = balanced_accuracy(labels[mask], predicted[mask]) if counts[key] >= MIN_ROWS else None
    return ShortcutScores(balanced_accuracy(labels, predicted), per_axis, counts)


def describe(scores: ShortcutScores) -> Mapping[str, object]:
    """The check's value: overall and per-axis accuracy (chance is 50%) and the row counts."""
    return {"overall": scores.overall, "per_axis": scores.per_axis, "rows": scores.rows}
