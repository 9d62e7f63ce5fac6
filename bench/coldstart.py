"""Cold start of every function: how long ``import app`` takes in a fresh interpreter.

    python -m bench.coldstart              # every function, 3 fresh processes each
    python bench/coldstart.py --function chat
    python -m bench --only coldstart       # the same, from the benchmark runner

What Lambda's init phase runs for a Python handler is the import of its module. Each function is
imported the way the worker (and Lambda) does it: its code directory as the working directory,
the layer's ``python/`` on the path, and no AWS variable but the region, in a new process,
``python -X importtime -c "import app"``; the figure is the ``app`` line's cumulative time, the
median of the runs. Beside it: the heaviest modules under ``app`` (what to look at when the
figure grows) and ``first_client_ms``, the cost that the import leaves to the first request
(botocore and the DynamoDB client, created on first use by ``chatcore.clients``).

The budget is 150 ms per handler on the project's 2-core machine; nothing here asserts it, the
results go to ``bench/results/coldstart.json`` for people to read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/coldstart.py`: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, git_commit, machine, utc_now, write_result  # noqa: E402

__all__ = ["BUDGET_MS", "main", "parse_importtime", "run_coldstart"]

BUDGET_MS = 150.0
FUNCTIONS_DIR = ROOT / "functions"
LAYER_DIR = ROOT / "layers" / "chatcore" / "python"

_FIRST_CLIENT = (
    "import time\n"
    "t0 = time.perf_counter()\n"
    "import app\n"
    "t1 = time.perf_counter()\n"
    "from chatcore import clients\n"
    "clients.dynamodb()\n"
    "t2 = time.perf_counter()\n"
    "print((t1 - t0) * 1000, (t2 - t1) * 1000)\n"
)


def parse_importtime(stderr: str, module: str = "app") -> tuple[float, list[tuple[str, float]]]:
    """``module``'s cumulative import time (ms) and its direct children's, heaviest first."""
    rows: list[tuple[int, str, float]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        try:
            cumulative = int(parts[1].strip())
        except ValueError:  # the header line
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, name.strip(), cumulative / 1000))
    # -X importtime prints a module after its children: the children of `app` are the depth-1
    # rows just before the depth-0 `app` row.
    for index, (depth, name, ms) in enumerate(rows):
        if depth == 0 and name == module:
            children: list[tuple[str, float]] = []
            for child_depth, child, child_ms in reversed(rows[:index]):
                if child_depth == 0:
                    break
                if child_depth == 1:
                    children.append((child, child_ms))
            return ms, sorted(children, key=lambda c: -c[1])
    raise ValueError(f"no import line for {module!r}: did the import fail?\n{stderr[-2000:]}")


def _env() -> dict[str, str]:
    # Only the region: a handler must import without tables, endpoints or credentials.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(LAYER_DIR),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _run(code_dir: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=code_dir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def measure(code_dir: Path, *, repeats: int = 3) -> dict[str, Any]:
    """One function: median import time over ``repeats`` fresh processes, and what it is made of."""
    runs: list[float] = []
    children_by_run: list[list[tuple[str, float]]] = []
    for _ in range(repeats):
        done = _run(code_dir, ["-X", "importtime", "-c", "import app"])
        if done.returncode != 0:
            raise RuntimeError(f"{code_dir.name}: import failed:\n{done.stderr[-2000:]}")
        total, children = parse_importtime(done.stderr)
        runs.append(total)
        children_by_run.append(children)
    median = statistics.median(runs)
    median_run = children_by_run[runs.index(sorted(runs)[len(runs) // 2])]
    first_client: list[float] = []
    for _ in range(repeats):
        done = _run(code_dir, ["-c", _FIRST_CLIENT])
        if done.returncode == 0:
            first_client.append(float(done.stdout.split()[1]))
    return {
        "import_ms": round(median, 1),
        "runs_ms": [round(r, 1) for r in runs],
        "within_budget": median <= BUDGET_MS,
        "heaviest": [{"module": m, "ms": round(ms, 1)} for m, ms in median_run[:6]],
        "first_client_ms": round(statistics.median(first_client), 1) if first_client else None,
    }


def run_coldstart(*, repeats: int = 3, only: list[str] | None = None) -> dict[str, Any]:
    functions: dict[str, Any] = {}
    for code_dir in sorted(p for p in FUNCTIONS_DIR.iterdir() if (p / "app.py").is_file()):
        if only and code_dir.name not in only:
            continue
        functions[code_dir.name] = measure(code_dir, repeats=repeats)
    return {
        "budget_ms": BUDGET_MS,
        "repeats": repeats,
        "python": sys.version.split()[0],
        "functions": functions,
        "all_within_budget": all(f["within_budget"] for f in functions.values()),
    }


def format_table(body: dict[str, Any]) -> str:
    lines = [
        f"{'function':<12} {'import ms':>9} {'runs':<22} {'1st client':>10}  heaviest under app",
    ]
    for name, f in body["functions"].items():
        runs = ", ".join(f"{r:.0f}" for r in f["runs_ms"])
        heavy = ", ".join(f"{h['module']} {h['ms']:.0f}" for h in f["heaviest"][:3])
        flag = "" if f["within_budget"] else "  OVER BUDGET"
        first = f"{f['first_client_ms']:.0f}" if f["first_client_ms"] is not None else "-"
        lines.append(f"{name:<12} {f['import_ms']:>9.0f} {runs:<22} {first:>10}  {heavy}{flag}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per function")
    parser.add_argument("--function", action="append", help="only this function (repeatable)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    body = run_coldstart(repeats=args.repeats, only=args.function)
    print(format_table(body))
    # Only a run over every function is the record; a partial one is kept beside it.
    name = "coldstart" if not args.function else "coldstart-" + "-".join(sorted(args.function))
    path = write_result(
        name,
        {
            "name": name,
            "recorded": utc_now(),
            "seconds": round(time.monotonic() - started, 1),
            "machine": machine(),
            "commit": git_commit(),
            **body,
        },
    )
    print(f"  -> {path}")
    print(json.dumps({"all_within_budget": body["all_within_budget"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
