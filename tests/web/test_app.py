"""The app factory's own routes: the health check."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.config import Settings


def test_the_health_check_answers_while_every_worker_thread_is_busy(
    app: FastAPI, client: TestClient, web_settings: Settings
) -> None:
    """A health check that queued behind slow database pages would get a busy server
    restarted by its orchestrator: it must not need a worker thread."""
    release, entered = threading.Event(), threading.Semaphore(0)

    @app.get("/test/busy")
    def busy() -> dict[str, str]:  # a sync route: it holds one worker thread
        entered.release()
        release.wait(10)
        return {}

    workers = web_settings.worker_threads
    with ThreadPoolExecutor(workers + 1) as pool:
        pending = [pool.submit(client.get, "/test/busy") for _ in range(workers)]
        try:
            for _ in range(workers):
                assert entered.acquire(timeout=10), "the busy requests did not all start"
            health = pool.submit(client.get, "/healthz")
            answer = health.result(timeout=5)  # before any worker thread is free again
            assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        finally:
            release.set()
        assert all(future.result().status_code == 200 for future in pending)
