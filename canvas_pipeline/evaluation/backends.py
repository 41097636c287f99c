"""The simulated backend an item's calls were answered by, rebuilt from the item's
`context` (term, split, `now`, seed, and the student's courses when they are a subset of
the view's) and the curated data, so the harness can execute a model's calls the way the
dataset's own calls were executed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from canvas_pipeline.data.backend import Backend, PriorityPair, parse_iso
from canvas_pipeline.data.calendar import build_calendar
from canvas_pipeline.data.phase1.build import Phase1Config, assign_course_splits, pairs_by_split
from canvas_pipeline.data.student_view import LOCAL_TZ, StudentView, views_from_items
from canvas_pipeline.tools.chat_format import message_calls


class ContextError(LookupError):
    """An item names a term/split the curated data does not hold."""


@dataclass
class BackendFactory:
    views: dict[tuple[str, str], StudentView]
    pairs: dict[str, list[PriorityPair]]
    _lookups: dict[str, dict[tuple[str, str], PriorityPair]] = field(default_factory=dict)

    @classmethod
    def from_frames(cls, items: pl.DataFrame, pairs: pl.DataFrame, phase1: Phase1Config) -> BackendFactory:
        splits = assign_course_splits(items, phase1.seed, phase1.split_fractions)
        views = {(v.term, v.split): v for v in views_from_items(items, splits)}
        pools = pairs_by_split(pairs, phase1.seed, phase1.pair_fractions).pools
        return cls(views, pools)

    @classmethod
    def from_out_dir(cls, out_dir: Path) -> BackendFactory:
        from canvas_pipeline.data.stages import phase1_config

        curated = Path(out_dir) / "curated"
        return cls.from_frames(
            pl.read_parquet(curated / "scrubbed_items.parquet"),
            pl.read_parquet(curated / "scrubbed_pairs.parquet"),
            phase1_config(Path(out_dir)),
        )

    def for_item(self, item: dict[str, Any]) -> Backend:
        """A fresh backend in the state the item's last user turn found it in: the calls made
        earlier in the conversation (an event created before "move it to 3pm") are replayed."""
        context = item["context"]
        key = (context["term"], context["split"])
        if key not in self.views:
            raise ContextError(f"item {item['id']}: no {key[1]} view of term {key[0]!r} in the curated data")
        # In the zone the dataset used, not the offset the ISO text carries: "3 days ago"
        # across a DST change is another wall-clock time in a fixed offset.
        view, now, seed = self.views[key], parse_iso(context["now"]).astimezone(LOCAL_TZ), int(context["seed"])
        if context.get("courses"):
            try:
                view = view.enrolled(context["courses"])
            except KeyError as error:
                raise ContextError(f"item {item['id']}: {error.args[0]}") from None
        split = context["split"]
        if split not in self._lookups:
            self._lookups[split] = {(p.item_a, p.item_b): p for p in self.pairs.get(split, [])}
        backend = Backend(
            view.as_of(now, seed), now, seed, pairs=self._lookups[split], events=build_calendar(view, now, seed)
        )
        for message in item["prompt"]:
            for call in message_calls(message):
                backend.execute(call)
        return backend
