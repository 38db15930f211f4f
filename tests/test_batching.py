"""The Bento's request coalescer (nbprod/package/batching.py, copied into every Bento as nbprod_batching.py)."""

import asyncio
import threading
import time

import pytest

from nbprod.package.batching import Coalescer


class Model:
    """Doubles each row; records every call's rows; can be slowed down or told to fail on a row."""

    def __init__(self, delay_s: float = 0.0, bad: object = None) -> None:
        self.calls: list[list] = []
        self.threads: set[str] = set()
        self.delay_s, self.bad = delay_s, bad

    def __call__(self, rows: list) -> list:
        self.calls.append(list(rows))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        if self.bad in rows:
            raise ValueError(f"cannot predict {self.bad!r}")
        return [2 * r for r in rows]


def test_a_lone_request_is_predicted_at_once_in_the_model_thread():
    model = Model()
    batcher = Coalescer(model, max_rows=10)

    async def one():
        t = time.perf_counter()
        out = await batcher.submit([1, 2])
        return out, time.perf_counter() - t

    out, took = asyncio.run(one())
    assert out == [2, 4] and model.calls == [[1, 2]]
    assert took < 0.05  # no waiting window
    assert model.threads and all(name.startswith("nbprod-predict") for name in model.threads)


def test_requests_that_arrive_during_a_call_join_the_next_one_and_get_their_own_rows():
    model = Model(delay_s=0.05)
    batcher = Coalescer(model, max_rows=100)
    merged: list[int] = []
    batcher.observe = merged.append

    async def burst():
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.01)  # the first call is running now
        rest = [asyncio.ensure_future(batcher.submit([i, 10 * i])) for i in range(1, 9)]
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(burst())
    assert first == [0] and rest == [[2 * i, 20 * i] for i in range(1, 9)]
    assert model.calls == [[0], [r for i in range(1, 9) for r in (i, 10 * i)]]  # one call for the eight requests
    assert merged == [1, 8]


def test_a_merged_call_takes_whole_requests_up_to_max_rows():
    model = Model(delay_s=0.03)
    batcher = Coalescer(model, max_rows=5)

    async def burst():
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(batcher.submit([i, i])) for i in range(1, 5)]
        big = asyncio.ensure_future(batcher.submit(list(range(7))))  # more than max_rows alone: its own call
        return await first, await asyncio.gather(*rest), await big

    first, rest, big = asyncio.run(burst())
    assert rest == [[2 * i, 2 * i] for i in range(1, 5)] and big == [2 * i for i in range(7)]
    assert [len(c) for c in model.calls] == [1, 4, 4, 7]


def test_when_a_merged_call_fails_only_the_failing_request_gets_the_error():
    model = Model(delay_s=0.03, bad=-1)
    batcher = Coalescer(model, max_rows=100)

    async def burst():
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.01)
        good = [asyncio.ensure_future(batcher.submit([i])) for i in (1, 2)]
        bad = asyncio.ensure_future(batcher.submit([-1]))
        await first
        return await asyncio.gather(*good), await asyncio.gather(bad, return_exceptions=True)

    good, (bad,) = asyncio.run(burst())
    assert good == [[2], [4]]
    assert isinstance(bad, ValueError) and "cannot predict -1" in str(bad)


def test_a_model_that_answers_the_wrong_number_of_rows_is_an_error():
    batcher = Coalescer(lambda rows: rows[:-1], max_rows=10)
    with pytest.raises(ValueError, match="answered 1 results for 2 rows"):
        asyncio.run(batcher.submit([1, 2]))
    with pytest.raises(ValueError, match="max_rows must be positive"):
        Coalescer(lambda rows: rows, max_rows=0)
