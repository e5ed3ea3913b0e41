"""Tool calls written as text: the markup of the serving stacks' tool parsers, found in message
text where a structured call should have been (anomalies.md §1).

- families.py: the families as data — id, what the markup looks like, which parser module reads
  it, and the server-side switch (vLLM, SGLang, llama.cpp, Ollama) that would have parsed it;
- json_tags.py, pythonic.py, xml_tags.py, arg_pairs.py, special_tokens.py, gemma.py: one module
  per markup style;
- detect.py: the literal prefilter, the marker scan, the shape rules and the precision rules;
- reading.py: the message body, its code regions, JSON and value readers.
"""

from llmtrace.anomalies.tool_text.detect import MARKER_LITERALS, Match, explained, find_tool_calls
from llmtrace.anomalies.tool_text.families import FAMILIES, also, hint, parsers
from llmtrace.anomalies.tool_text.reading import body_span, code_regions, in_regions

__all__ = ["FAMILIES", "MARKER_LITERALS", "Match", "also", "body_span", "code_regions", "explained", "find_tool_calls",
           "hint", "in_regions", "parsers"]
