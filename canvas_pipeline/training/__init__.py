"""Profiles, the tokenizer/model factory and the training methods (torch is imported lazily)."""
