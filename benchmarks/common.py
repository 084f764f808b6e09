"""Shared helpers for the benchmark scripts: synthetic inputs and timed whole processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WORK = Path(os.environ.get("PAGECOLS_BENCH_DIR", "/tmp/pagecols-bench"))


@dataclass
class Run:
    seconds: float
    max_rss_mib: float
    returncode: int
    cpu_seconds: float = 0.0  # user + system


def run(argv: list[str], *, stdout: int | None = subprocess.DEVNULL, env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` as its own process (in ``env``, or this one's environment); wall time, and
    that process's CPU time and peak RSS (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        assert proc.stderr is not None
        sys.exit(f"{' '.join(argv)} failed ({code}): {proc.stderr.read().decode()}")
    return Run(seconds, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime)


def pagecols(*args: str) -> list[str]:
    # `python -m` rather than the console script, so PYTHONPATH can point at another checkout.
    return [sys.executable, "-m", "pagecols", *args]


def synthetic_dump(size: int, *, seed: int = 1, era: str = "5.18") -> Path:
    """A synthetic dump of ``size`` bytes, made once and reused (same seed, same bytes)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"synth-{era}-s{seed}-{size >> 20}M.txt"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        subprocess.run(
            [sys.executable, "-m", "pagecols.synth", str(tmp), "--size", str(size), "--seed", str(seed), "--era", era],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tmp.rename(path)
    return path


def is_current(parquet: Path) -> bool:
    """Whether ``parquet`` exists and is newer than every source file of pagecols.

    A Parquet file left by an older build may have another layout; timing reads of it
    would measure that build, so the scripts convert again when this is false.
    """
    if not parquet.exists():
        return False
    sources = Path(__file__).resolve().parent.parent / "pagecols"
    newest = max(p.stat().st_mtime for p in sources.rglob("*.py"))
    return parquet.stat().st_mtime > newest


def warm(path: Path) -> float:
    """Read ``path`` once to fill the page cache; then time ``cat path > /dev/null``: the physical limit."""
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return run(["cat", str(path)]).seconds


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)
