"""Bench harness and checkpoint selection: plain Python, no Dagster."""
