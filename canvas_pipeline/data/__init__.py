"""Datasets: raw ingest, the PII gate, the simulated backend and the phase builders (no Dagster here)."""
