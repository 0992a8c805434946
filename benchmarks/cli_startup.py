"""How much ``stack-deploy --help`` and ``--version`` cost over a bare Python start.

Runs each command N times in fresh processes, interleaved with the baseline
(``python -c pass``) in the same run, and reports medians and the difference. The goal
(issue 2) is at most 0.25 s more than bare Python.

    python benchmarks/cli_startup.py [-n 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "stack-deploy --help": [sys.executable, "-m", "stackdeploy", "--help"],
    "stack-deploy --version": [sys.executable, "-m", "stackdeploy", "--version"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=15, help="runs per command")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.n):
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass (baseline)"])
    for name, samples in times.items():
        med = statistics.median(samples)
        print(
            f"{name:<28} median {med * 1000:7.1f} ms   +{(med - base) * 1000:6.1f} ms over baseline"
        )


if __name__ == "__main__":
    main()
