"""Shrinkage accounting: every stage says how many rows came in, went out, and why the rest left."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "stage": pl.String(),
    "source": pl.String(),
    "line": pl.Int64(),
    "record_id": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload": pl.String(),
}


@dataclass
class Quarantine:
    """Rows a stage rejected, each with the file/line it came from and the reason."""

    stage: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        reason: str,
        detail: str,
        *,
        source: str = "",
        line: int | None = None,
        record_id: str = "",
        payload: Any = None,
    ) -> None:
        text = (
            payload
            if isinstance(payload, str) or payload is None
            else json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        )
        self.rows.append(
            {
                "stage": self.stage,
                "source": source,
                "line": line,
                "record_id": record_id,
                "reason": reason,
                "detail": detail,
                "payload": text,
            }
        )

    def __len__(self) -> int:
        return len(self.rows)

    def reason_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r["reason"] for r in self.rows).items()))

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=QUARANTINE_SCHEMA, orient="row")


@dataclass(frozen=True)
class StageReport:
    """rows_in = rows_out + sum(dropped.values()), always: a stage that loses a row uncounted is a bug."""

    stage: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_out + sum(self.dropped.values()):
            raise AssertionError(
                f"stage {self.stage}: {self.rows_in} rows in != {self.rows_out} out + "
                f"{sum(self.dropped.values())} dropped {self.dropped}"
            )

    @property
    def retained(self) -> float:
        return self.rows_out / self.rows_in if self.rows_in else 1.0

    def metadata(self) -> dict[str, Any]:
        """Flat, JSON-able figures for asset metadata and the CLI report."""
        out: dict[str, Any] = {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "retained": round(self.retained, 4),
            "dropped_total": sum(self.dropped.values()),
        }
        out.update({f"dropped.{reason}": n for reason, n in sorted(self.dropped.items())})
        out.update(self.extra)
        return out


def report_from(stage: str, rows_in: int, rows_out: int, quarantine: Quarantine, **extra: Any) -> StageReport:
    return StageReport(stage, rows_in, rows_out, quarantine.reason_counts(), dict(extra))
