"""The server of ``llmtrace serve`` and ``llmtrace record`` (``llmtrace.serve(...)`` is the public
way to start one from Python): recordings replayed as live, streaming provider endpoints, and
the recording proxy.

- ``wire``: a recorded exchange in its dialect's wire format (frames, bodies, error shapes);
- ``match``: which recorded exchange answers a request (strict, loose, sequence);
- ``pace``: when each frame goes out (recorded times, scaled; a rate asked for; at once);
- ``faults``: stream faults on demand (stall, cut, duplicate, split UTF-8, drop the end,
  errors, tool calls written as text);
- ``app``: the aiohttp server putting them together (``Listening``, shared with the proxy);
- ``proxy`` and ``saving``: ``llmtrace record``'s reverse proxy and how it writes HAR files and
  VCR cassettes.

The server library is imported only here: no other command pays for it.
"""
