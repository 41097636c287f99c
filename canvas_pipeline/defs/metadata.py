"""Helpers for materialization metadata shared by the asset modules."""

import json
from typing import Any

import dagster as dg


def json_metadata(value: Any) -> dg.MetadataValue:
    """Any JSON-able value (dataclass fields, paths and numpy scalars as strings) as JSON metadata."""
    return dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
