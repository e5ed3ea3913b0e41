"""llmtrace: inspect recorded LLM streaming transcripts."""

__version__ = "0.1.0"
