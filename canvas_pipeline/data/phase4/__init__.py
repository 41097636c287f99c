"""Phase 4: the benchmark, from courses held out of every training split."""
