"""Rich renderables for llmtrace commands; recorded text always goes through safe.py."""
