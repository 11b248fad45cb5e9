"""Run one ``vi2clr`` command once per pipeline seed, several seeds at a time (``vi2clr seeds``).

The seeds of a row are independent runs, so they can run side by side. On the 2-core default, single-
threaded processes side by side finish a row's pretrainings and evaluations sooner than one
two-threaded process after another: small convolutions and the data pipeline use a second thread
poorly, and one process's start-up overlaps another's work (``benchmarks/seed_jobs.py``). Each child
is exactly the command a user would type with ``{seed}`` filled in, so a seed run by hand gives the
same numbers as in the pipeline (``compute.threads`` fixes the thread count either way).

Written by hand rather than with ``concurrent.futures.ProcessPoolExecutor`` or joblib: the children
are whole ``vi2clr`` processes (their own MLflow runs, exit codes and output), not functions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from vi2clr.errors import UserError

SEED_FIELD = "{seed}"


def seed_commands(args: list[str], seeds: list[int]) -> list[list[str]]:
    """``args`` with every ``{seed}`` replaced, once per seed; an ``args`` without ``{seed}`` is refused
    (each seed would run the same command)."""
    if not args:
        raise UserError("vi2clr seeds: give the command to run after --, e.g. -- pretrain -S pretrain.seed={seed}")
    if not any(SEED_FIELD in a for a in args):
        raise UserError(f"vi2clr seeds: no {SEED_FIELD} in the command {' '.join(args)!r}: every seed would run it alike")
    return [[a.replace(SEED_FIELD, str(s)) for a in args] for s in seeds]


def run_seeds(args: list[str], seeds: list[int], jobs: int) -> int:
    """Run ``python -m vi2clr ARGS`` for each seed, at most ``jobs`` at a time, and wait for all.

    Every line a child prints is passed on as it comes, prefixed ``[seed S]``. A failed seed does not
    stop the others (their outputs are independent); after all have ended, one line per failed seed
    names it and its exit code. Returns 0 when every seed succeeded, else the largest exit code (a
    child ended by signal N counts as 128 + N, as in a shell).

    Ctrl-C or SIGTERM here (``kill``, ``scancel``, ``docker stop``) passes the signal on to every
    running child, so each closes its MLflow run as KILLED after its last atomic checkpoint, waits for
    them, and exits 130 / 143; no child is left running on its own."""
    commands = seed_commands(args, seeds)
    if jobs < 1:
        raise UserError(f"vi2clr seeds: --jobs must be at least 1, got {jobs}")
    lock = threading.Lock()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    running: list[subprocess.Popen] = []
    stopping = threading.Event()

    def run(seed: int, argv: list[str]) -> int:
        with lock:
            if stopping.is_set():
                return 128 + signal.SIGTERM
            # Its own session: a Ctrl-C on the terminal reaches only this process, which passes it
            # on once (not twice, which would cut short the child's own clean-up).
            proc = subprocess.Popen([sys.executable, "-m", "vi2clr", *argv], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace", env=env,
                                    start_new_session=True)
            running.append(proc)
        with proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                with lock:
                    sys.stdout.write(f"[seed {seed}] {line}")
                    sys.stdout.flush()
            return proc.wait()

    def stop(signum: int, _frame: object) -> None:
        with lock:
            stopping.set()
            for proc in running:
                if proc.poll() is None:
                    proc.send_signal(signum)
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(commands)))
    try:
        codes = list(pool.map(run, seeds, commands))
    finally:
        pool.shutdown(wait=True)  # after a signal: the children are ending, their lines still come
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for seed, argv, code in zip(seeds, commands, codes):
        if code != 0:
            print(f"error: seed {seed}: `vi2clr {' '.join(argv)}` exited with {code} (its lines above)",
                  file=sys.stderr)
    return max((c if c > 0 else 128 - c for c in codes if c != 0), default=0)
