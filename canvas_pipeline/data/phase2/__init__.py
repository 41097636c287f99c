"""Phase 2: DPO preference pairs by named mutation, 8 axes plus mixed."""
