"""canvas_pipeline: build, guard, train and evaluate a Gemma-4 tool-calling model for students."""

__version__ = "0.1.0"
