"""The tool-call-in-text detector on 1 MB of text: plain prose without markup (goal: <= 10 ms)
and text dense with markers of every family (goal: <= 100 ms), plus prose holding "<" (HTML-ish)
and a message that is one big JSON answer. In-process timings (best of --runs), since the
detector is a function: start-up is bench_startup.py's business. Also prints the import time of
the package (its regexes are compiled on first use, not at import).

Usage: python bench/bench_tool_text.py [--runs 7] [--size 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SENTENCE = ("The weather in Tokyo is mild in spring, with cherry blossoms in early April; "
            "pack a light jacket for the evenings and an umbrella for the rain. ")
MARKUP = [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>',
    '[TOOL_CALLS]get_weather[ARGS]{"city": "Tokyo"}',
    '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}',
    '<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>}<tool_call|>',
    '<minimax:tool_call><invoke name="get_weather"><parameter name="city">Tokyo</parameter></invoke>'
    "</minimax:tool_call>",
    '<｜DSML｜function_calls><｜DSML｜invoke name="get_weather"><｜DSML｜parameter name="city" string="true">Tokyo'
    '</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜function_calls>',
    "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
    '{"city": "Tokyo"}<|tool_call_end|><|tool_calls_section_end|>',
    '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Tokyo"}<|call|>',
    "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Tokyo</arg_value></tool_call>",
    '<function name="get_weather"><param name="city">Tokyo</param></function>',
    '<|tool_call_start|>[get_weather(city="Tokyo")]<|tool_call_end|>',
    '<atem:function_calls><atem:invoke name="get_weather"><atem:parameter name="city">Tokyo</atem:parameter>'
    "</atem:invoke></atem:function_calls>",
]


def _texts(size: int) -> dict[str, str]:
    plain = (SENTENCE * (size // len(SENTENCE) + 1))[:size]
    dense_unit = "".join(f"Checking. {m}\n" for m in MARKUP)
    dense = (dense_unit * (size // len(dense_unit) + 1))[:size]
    html_unit = "<p>The <b>weather</b> in Tokyo: 12 &lt; 15 °C, see <a href='x'>here</a>.</p>\n"
    html = (html_unit * (size // len(html_unit) + 1))[:size]
    answer = json.dumps([{"name": f"city {i}", "population": i} for i in range(size // 40)])
    return {"1 MB prose without markup": plain, "1 MB dense with markers": dense,
            "1 MB HTML-like prose": html, "1 MB JSON answer": answer}


def _best(fn, runs: int) -> tuple[float, float]:
    """The best wall time and the best CPU time of ``runs`` calls (CPU time is what a busy,
    shared machine does not inflate)."""
    wall = cpu = float("inf")
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    code = ("import time; t = time.perf_counter(); import llmtrace.anomalies.tool_text; "
            "print((time.perf_counter() - t) * 1000)")
    imported = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                        check=True).stdout) for _ in range(3))
    print(f"import llmtrace.anomalies.tool_text: {imported:.1f} ms (includes llmtrace's own imports)")
    from llmtrace.anomalies.tool_text import find_tool_calls

    goals = {"1 MB prose without markup": 10.0, "1 MB dense with markers": 100.0}
    for name, text in _texts(args.size).items():
        found = find_tool_calls(text, ("get_weather",))
        wall, cpu = _best(lambda: find_tool_calls(text, ("get_weather",)), args.runs)
        goal = goals.get(name)
        verdict = f" (goal <= {goal:.0f} ms: {'met' if cpu * 1000 <= goal else 'MISSED'})" if goal else ""
        calls = sum(len(m.calls) for m in found)
        print(f"{name}: {cpu * 1000:.1f} ms CPU, {wall * 1000:.1f} ms wall, {len(found)} matches, "
              f"{calls} calls{verdict}")


if __name__ == "__main__":
    main()
