"""Run every benchmark in bench/ and rewrite bench/RESULTS.md with this run's figures.

Each benchmark measures what it compares side by side in one run and appends
its figures; this runner starts the file afresh with the date, and puts each
benchmark's description (its docstring) above its figures.
"""

import ast
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


def description(script):
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    # Drop the usage line(s) at the end.
    return "\n".join(line for line in doc.splitlines() if not line.strip().startswith(".venv/bin/python")).strip()


def main():
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if not scripts:
        print("No benchmarks in bench/ yet: nothing measured.")
        return 0
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.write_text(
        "# Benchmark results\n\n"
        f"Written by `make bench` on {stamp}: {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        "Every figure below was measured in this run; ratios compare things measured side by side.\n"
    )
    failed = []
    for script in scripts:
        name = script.stem
        print(f"== {name}", flush=True)
        with RESULTS.open("a") as results:
            results.write(f"\n## {name}\n\n{description(script)}\n")
        if subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0:
            failed.append(name)
            with RESULTS.open("a") as results:
                results.write("\n**This benchmark failed in this run; no figures.**\n")
    if failed:
        print(f"Failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
