"""The worker's consumer fetches while it still holds untaken records (see
``stream.transport.consumer._without_prefetch_backoff``): the knob it turns is aiokafka's."""

from __future__ import annotations

import inspect

from aiokafka.consumer.fetcher import Fetcher

from stream.settings import Settings


def test_aiokafkas_fetcher_still_has_the_prefetch_backoff_the_worker_turns_off():
    assert "prefetch_backoff" in inspect.signature(Fetcher).parameters


def test_a_fetch_waits_ten_ms_for_sixteen_kilobytes_by_default():
    worker = Settings().worker
    assert (worker.fetch_max_wait_s, worker.fetch_min_bytes) == (0.01, 16 * 1024)
