"""The tool registry and the Gemma-4 native format (codec and turn rendering)."""
