"""The PII gate on the raw tables (`curated/scrubbed_snapshots`).

Every free-text field is scrubbed with one placeholder map per row, so a value keeps its
placeholder across the fields of that row; the contributor column is dropped; then the
scrubber runs again on the result and a row in which anything is still flagged is
quarantined instead of passed on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import polars as pl

from canvas_pipeline.data.pii import Scrubber
from canvas_pipeline.data.schemas import PriorityPairs, ScrubbedItems
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from

STAGE = "curated/scrubbed_snapshots"
ITEM_TEXT_FIELDS = ("course_name", "course_code", "term", "title")
PAIR_TEXT_FIELDS = ("query", "a_title", "b_title", "a_course", "b_course")


@dataclass
class ScrubbedCanvas:
    items: pl.DataFrame
    pairs: pl.DataFrame
    quarantine: Quarantine
    report: StageReport


def known_usernames(items: pl.DataFrame) -> list[str]:
    """Contributor ids are usernames: the scrubber must catch them wherever they reappear."""
    return sorted({u for u in items["contributor_id"].drop_nulls().to_list() if u})


def _scrub_rows(
    frame: pl.DataFrame,
    fields: tuple[str, ...],
    scrubber: Scrubber,
    quarantine: Quarantine,
    key: str,
    replaced: Counter[str],
) -> pl.DataFrame:
    kept: list[dict[str, Any]] = []
    for row in frame.iter_rows(named=True):
        clean, spans = scrubber.scrub_record({f: row[f] for f in fields})
        replaced.update(s.label for s in spans)
        residual = [(f, s) for f in fields if clean[f] for s in scrubber.findings(clean[f])]
        if residual:
            labels = sorted({s.label for _, s in residual})
            where = f"{row.get('source_file')}:{row.get('source_line')}"
            quarantine.add(
                "pii_residual",
                f"{where}: still flagged after scrubbing: {labels} in {sorted({f for f, _ in residual})}",
                source=str(row.get("source_file")),
                line=row.get("source_line"),
                record_id=str(row[key]),
            )
            continue
        kept.append({**row, **clean})
    return pl.DataFrame(kept, schema=frame.schema, orient="row")


def scrub_snapshot(raw_items: pl.DataFrame, raw_pairs: pl.DataFrame, scrubber: Scrubber) -> ScrubbedCanvas:
    """Scrubbed items (without contributor_id) and pairs, the rows still flagged, and counts."""
    quarantine = Quarantine(STAGE)
    replaced: Counter[str] = Counter()
    items = _scrub_rows(raw_items, ITEM_TEXT_FIELDS, scrubber, quarantine, "item_id", replaced).drop("contributor_id")
    pairs = _scrub_rows(raw_pairs, PAIR_TEXT_FIELDS, scrubber, quarantine, "pair_id", replaced)
    ScrubbedItems.validate(items)
    PriorityPairs.validate(pairs)
    report = report_from(
        STAGE,
        rows_in=raw_items.height + raw_pairs.height,
        rows_out=items.height + pairs.height,
        quarantine=quarantine,
        scrubber=scrubber.name,
        items=items.height,
        pairs=pairs.height,
        pii_replaced_total=sum(replaced.values()),
        **{f"pii_replaced.{label}": n for label, n in sorted(replaced.items())},
    )
    return ScrubbedCanvas(items, pairs, quarantine, report)
