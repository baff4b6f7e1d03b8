"""``serve --workers N``: N processes answering on one port, each loading the model once.

The parent binds the socket and starts the workers (``spawn``: a fresh interpreter each, no torch
state forked); every worker builds its app from the same ``ServeSettings`` and runs the draining
uvicorn server on the shared socket, so the kernel hands each new connection to one of them. On
SIGTERM or SIGINT the parent stops listening and sends SIGTERM to every worker, which finishes its
requests in flight as a single server does; a worker that dies while serving is replaced, one that
cannot start stops them all. Each worker keeps its own ``/metrics``: a scrape reads the worker that
answers it (``/health`` names its ``pid``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from typing import Any

from inference.service.app import ServeSettings, build_app

logger = logging.getLogger("conflict_ie.service")

# ``--workers auto`` without ``--threads``: cores per worker. Two keep one request's forward pass on
# more than one core (single-client latency) and bound the copies of the model (memory) to half
# the cores.
AUTO_THREADS_PER_WORKER = 2
STARTUP_FAILURE = 3  # a worker's exit code when its model or app cannot be loaded (as uvicorn's)


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_workers(
    workers: int | str, threads: int | None, cores: int | None = None
) -> tuple[int, int | None]:
    """Worker processes and CPU threads per worker.

    ``auto``: ``cores // threads`` workers (``threads`` defaulting to ``AUTO_THREADS_PER_WORKER``),
    at least one. With several workers and no ``threads``, each gets ``cores // workers`` threads
    (at least one), so that workers x threads <= cores. One worker keeps ``threads`` as given
    (None: the runtime's default, all cores)."""
    cores = cores or cpu_cores()
    if workers == "auto":
        per_worker = threads or AUTO_THREADS_PER_WORKER
        workers = max(1, cores // per_worker)
        return workers, (per_worker if workers > 1 else threads)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1 or 'auto', got {workers!r}")
    if workers > 1 and threads is None:
        threads = max(1, cores // workers)
    if workers > 1 and workers * threads > cores:
        logger.warning(
            "%d workers x %d threads is more than the %d cores: they will compete for them",
            workers,
            threads,
            cores,
        )
    return workers, threads


def _exit_quietly(*_: object) -> None:
    raise SystemExit(0)


def _worker(
    settings: ServeSettings, sock: socket.socket, graceful_timeout: float, log_level: str
) -> None:  # runs in the worker process
    import uvicorn

    from inference.service.app import draining_server_class

    # uvicorn re-raises the signal that stopped it; exiting through SystemExit instead lets the
    # worker's finalizers run (no "leaked semaphore" warnings, no KeyboardInterrupt traceback).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_quietly)
    try:
        app = build_app(settings)
    except Exception:
        logging.getLogger("uvicorn.error").exception("worker %d could not load the model", os.getpid())
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config(
        app, log_level=log_level, timeout_graceful_shutdown=graceful_timeout, server_header=False
    )
    server = draining_server_class()(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def run_workers(
    settings: ServeSettings,
    workers: int,
    host: str,
    port: int,
    *,
    graceful_timeout: float = 30.0,
    log_level: str = "info",
) -> None:
    """Serve with ``workers`` processes on ``host:port`` until SIGTERM/SIGINT; raises
    ``SystemExit`` when a worker cannot start."""
    import uvicorn

    sock = uvicorn.Config("unused", host=host, port=port, log_level=log_level).bind_socket()
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start() -> Any:
        process = context.Process(
            target=_worker, args=(settings, sock, graceful_timeout, log_level), name="conflict-ie-worker"
        )
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    logger.info("parent %d started workers %s", os.getpid(), [p.pid for p in processes])
    failed = False
    try:
        while not stop.wait(0.5):
            for index, process in enumerate(processes):
                if process.exitcode is None:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    logger.error("worker %d could not start; stopping all workers", process.pid)
                    failed = True
                    stop.set()
                    break
                logger.warning("worker %d exited (%s); starting another", process.pid, process.exitcode)
                processes[index] = start()
    finally:
        sock.close()  # stop listening: the workers' copies close as their shutdown begins
        for process in processes:
            if process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(graceful_timeout + 10)
            if process.exitcode is None:
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise SystemExit(1)
