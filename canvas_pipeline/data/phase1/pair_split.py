"""Priority pairs into splits: as many pairs used as the pair graph allows, and every pair
left out quarantined with its reason.

A pair compares two items (the reranker's item strings); an item belongs to one split, so
no item a held-out pair asks about is seen in training. A pair whose two items land in
different splits cannot be used. The exports' 800 pairs ask about 242 items in one
connected graph, so some pairs must be left out; which items go where decides how many.
Whole communities of the graph (Louvain) are held out, then single items move while that
keeps more pairs, each split keeping at least its minimum share of the pairs.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from canvas_pipeline.data.backend import PriorityPair

SPLITS = ("train", "test", "bench")
STAGE = "phase1/priority_pairs"
REASON = "pair_straddles_splits"


def _rank(seed: int, key: object) -> str:
    return hashlib.sha256(f"{seed}|pair-course|{key}".encode()).hexdigest()


@dataclass
class PairSplit:
    """Pools of usable pairs per split, the course assignment, and the pairs left out."""

    pools: dict[str, list[PriorityPair]]
    item_split: dict[str, str]  # the reranker's item string -> split
    left_out: list[dict[str, Any]] = field(default_factory=list)  # quarantine rows

    @property
    def used(self) -> int:
        return sum(len(p) for p in self.pools.values())

    def report(self) -> dict[str, Any]:
        total = self.used + len(self.left_out)
        return {
            "priority_pairs.rows_in": total,
            "priority_pairs.rows_out": self.used,
            "priority_pairs.retained": round(self.used / total, 4) if total else 1.0,
            f"priority_pairs.dropped.{REASON}": len(self.left_out),
            **{f"pairs_{s}": len(self.pools[s]) for s in SPLITS},
        }


def _kept(weights: Mapping[tuple[str, str], int], side: Mapping[str, str]) -> Counter[str]:
    kept: Counter[str] = Counter()
    for (a, b), n in weights.items():
        if side[a] == side[b]:
            kept[side[a]] += n
    return kept


def _held_out_communities(
    weights: Mapping[tuple[str, str], int], seed: int, minimum: Mapping[str, float]
) -> dict[str, str]:
    """A start: the pair graph's communities (Louvain, seeded), whole communities held out:
    the bench and test communities that keep the most pairs with both splits at their
    minimum, else communities added to bench, then test, one at a time, the one that keeps
    the most pairs first."""
    import networkx as nx  # only when pairs are split, not when the definitions load

    graph = nx.Graph()
    for (a, b), n in sorted(weights.items()):
        graph.add_edge(a, b, weight=n)
    found = nx.community.louvain_communities(graph, weight="weight", resolution=1.0, seed=seed)
    communities = sorted((sorted(c) for c in found), key=lambda c: c[0])
    items = [i for c in communities for i in c]

    def side_of(held: Mapping[str, list[int]]) -> dict[str, str]:
        side = dict.fromkeys(items, "train")
        for split, indices in held.items():
            for k in indices:
                side.update(dict.fromkeys(communities[k], split))
        return side

    best: tuple[int, dict[str, str]] | None = None
    for bench, test in itertools.permutations(range(len(communities)), 2):
        side = side_of({"bench": [bench], "test": [test]})
        kept = _kept(weights, side)
        if all(kept[s] >= minimum[s] for s in SPLITS) and (best is None or kept.total() > best[0]):
            best = (kept.total(), side)
    if best is not None:
        return best[1]
    held: dict[str, list[int]] = {"bench": [], "test": []}
    for split in ("bench", "test"):
        while _kept(weights, side_of(held))[split] < minimum[split]:
            free = [k for k in range(len(communities)) if k not in held["bench"] + held["test"]]
            if len(free) <= 1:
                break
            held[split].append(
                max(free, key=lambda k: _kept(weights, side_of({**held, split: [*held[split], k]})).total())
            )
    return side_of(held)


def assign_pair_items(
    weights: Mapping[tuple[str, str], int], seed: int, minimum_shares: Mapping[str, float]
) -> dict[str, str]:
    """Item -> split: whole communities of the pair graph held out (`_held_out_communities`),
    then single items moved, in a seeded order, whenever that keeps more pairs inside one
    split without taking a split under its minimum share, until no move does."""
    total = sum(weights.values())
    minimum = {s: minimum_shares.get(s, 0.0) * total for s in SPLITS}
    side = _held_out_communities(weights, seed, minimum)
    items = sorted(side, key=lambda i: _rank(seed, i))
    neighbours: dict[str, Counter[str]] = {i: Counter() for i in items}
    for (a, b), n in weights.items():
        neighbours[a][b] += n
        if a != b:
            neighbours[b][a] += n
    kept = _kept(weights, side)

    def feasible(counts: Counter[str]) -> bool:
        return all(counts[s] >= minimum[s] for s in SPLITS)

    for _ in range(100):
        moved = False
        for item in items:
            old = side[item]
            for split in SPLITS:
                if split == old:
                    continue
                trial = kept.copy()
                for other, n in neighbours[item].items():
                    if other == item:  # a pair of an item with itself moves with it
                        trial[old] -= n
                        trial[split] += n
                    elif side[other] == old:
                        trial[old] -= n
                    elif side[other] == split:
                        trial[split] += n
                if trial.total() > kept.total() and (feasible(trial) or not feasible(kept)):
                    side[item], kept, moved = split, trial, True
                    break
        if not moved:
            break
    return side


def pair_label(side: dict[str, Any]) -> str:
    """A priority-pair item in the reranker's '[TYPE] Title @COURSEcode STATUS Npts' form."""
    type_code = {"graded_assignment": "ASGN", "quiz": "QUIZ", "exam": "EXAM"}.get(side["type"], "PART")
    if side["submitted"]:
        status = "SUBMITTED"
    elif side["missing"]:
        status = "MISSING"
    elif side["hours_until"] is None:
        status = "NO_DUE_DATE"
    elif side["hours_until"] <= 0:
        status = "OVERDUE"
    else:
        status = "UNSUBMITTED"
    points = "?" if side["points"] is None else f"{side['points']:g}"
    return f"[{type_code}] {side['title']} @{side['course']} {status} {points}pts"


def split_pairs(pairs: pl.DataFrame, seed: int, minimum_shares: Mapping[str, float]) -> PairSplit:
    """The pairs of each split, and a quarantine row (file, line, reason, the two courses and
    their splits) for every pair whose courses fall in different splits."""
    sides = []
    weights: Counter[tuple[str, str]] = Counter()
    for row in pairs.iter_rows(named=True):
        a = {k[2:]: v for k, v in row.items() if k.startswith("a_")}
        b = {k[2:]: v for k, v in row.items() if k.startswith("b_")}
        sides.append((row, a, b, pair_label(a), pair_label(b)))
        weights[tuple(sorted((pair_label(a), pair_label(b))))] += 1
    side = assign_pair_items(weights, seed, minimum_shares)
    out = PairSplit({s: [] for s in SPLITS}, side)
    for row, a, b, label_a, label_b in sides:
        if side[label_a] != side[label_b]:
            out.left_out.append(
                {
                    "stage": STAGE,
                    "source": row.get("source_file", ""),
                    "line": row.get("source_line"),
                    "record_id": row["pair_id"],
                    "reason": REASON,
                    "detail": f"item a ({label_a}) is in {side[label_a]}, item b ({label_b}) in {side[label_b]}",
                    "payload": row["query"],
                }
            )
            continue
        out.pools[side[label_a]].append(
            PriorityPair(row["pair_id"], row["query"], label_a, label_b, row["preferred"], (a["course"], b["course"]))
        )
    return out
