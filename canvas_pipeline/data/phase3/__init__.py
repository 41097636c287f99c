"""Phase 3: KTO binary feedback (unpaired desirable / undesirable completions)."""
