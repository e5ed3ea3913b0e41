"""Child process for bench_reassemble.py: reassemble a Llama Stack chat stream the way
openai-python does (``ChatCompletionStreamState``), the work llmtrace replaces.

    python bench/openai_accumulate.py FILE

Explicit nulls are dropped first (the state raises on them) and Azure's filter chunks skipped,
as openai-python's own stream does; the final message is printed as JSON.
"""

from __future__ import annotations

import sys

import orjson
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk


def drop_nulls(value):
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def main(path: str) -> None:
    with open(path, "rb") as fh:
        doc = orjson.loads(fh.read())
    state = ChatCompletionStreamState()
    for item in doc["response"]["body"]:
        data = drop_nulls(item["__data__"])
        if data.get("object") != "chat.completion.chunk":
            continue
        state.handle_chunk(ChatCompletionChunk.model_validate(data))
    sys.stdout.write(state.current_completion_snapshot.model_dump_json())


if __name__ == "__main__":
    main(sys.argv[1])
