"""The route dependencies that hand out the composition root's parts run on the event loop once a part is built, and
build a part (which may block: a database migration, the index process starting) in the thread pool, never on the
event loop."""

from __future__ import annotations

import asyncio
import inspect
import threading
from functools import cached_property
from types import SimpleNamespace

import api.deps as deps


class _Root:
    def __init__(self):
        self.built_on: list[int] = []

    @cached_property
    def search(self):
        self.built_on.append(threading.get_ident())
        return object()


def _request(root: _Root):
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(root=root)))


def test_a_part_is_built_in_the_thread_pool_then_handed_out_on_the_event_loop(monkeypatch):
    dependency = deps._part("search").dependency
    assert inspect.iscoroutinefunction(dependency)
    hops = []
    real = deps.run_in_threadpool

    async def counting(func, *args):
        hops.append(func)
        return await real(func, *args)

    monkeypatch.setattr(deps, "run_in_threadpool", counting)
    root = _Root()

    async def twice():
        loop_thread = threading.get_ident()
        first = await dependency(_request(root))
        second = await dependency(_request(root))
        return loop_thread, first, second

    loop_thread, first, second = asyncio.run(twice())
    assert first is second is root.search
    assert len(root.built_on) == 1 and root.built_on[0] != loop_thread  # built once, off the event loop
    assert len(hops) == 1  # the second request took the built part without a trip to the thread pool
