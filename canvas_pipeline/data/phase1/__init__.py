"""Phase 1: multi-turn SFT trajectories."""
