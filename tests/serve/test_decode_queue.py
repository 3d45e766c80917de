"""Fair decoding: requests take turns at the decode threads; a request's budget ends its waiting files."""

import asyncio
import threading
import time

import pytest

from nima_utils.serve.decode_queue import DecodeBudgetExceeded, FairDecoder


def job(log: list[str], name: str, seconds: float = 0.05) -> str:
    time.sleep(seconds)
    log.append(name)
    return name


def test_a_single_photo_waits_for_one_decode_per_thread_not_for_a_whole_batch():
    async def main() -> list[str]:
        decoder, log = FairDecoder(2), []
        far = time.monotonic() + 60
        batch, single = decoder.new_request(), decoder.new_request()
        big = [asyncio.create_task(decoder.run(batch, far, job, log, f"batch{i}")) for i in range(20)]
        await asyncio.sleep(0.01)  # the batch is queued first and already decoding
        assert await decoder.run(single, far, job, log, "single") == "single"
        await asyncio.gather(*big)
        decoder.shutdown()
        return log

    log = asyncio.run(main())
    assert len(log) == 21
    assert log.index("single") <= 3  # first come, first served would put it last (index 20)


def test_several_requests_take_turns_and_one_alone_uses_every_thread():
    async def main() -> tuple[list[str], set[str]]:
        decoder, log, threads = FairDecoder(2), [], set()

        def traced(name: str) -> str:
            threads.add(threading.current_thread().name)
            return job(log, name)

        far = time.monotonic() + 60
        a, b = decoder.new_request(), decoder.new_request()
        tasks = [decoder.run(a, far, traced, f"a{i}") for i in range(6)] + [
            decoder.run(b, far, traced, f"b{i}") for i in range(6)]
        await asyncio.gather(*tasks)
        decoder.shutdown()
        return log, threads

    log, threads = asyncio.run(main())
    assert len(threads) == 2
    first_half = log[:6]
    assert 2 <= sum(n.startswith("a") for n in first_half) <= 4  # interleaved, not a0..a5 then b0..b5


def test_files_not_started_within_the_budget_are_refused():
    async def main() -> list[object]:
        decoder, log = FairDecoder(1), []
        key = decoder.new_request()
        deadline = time.monotonic() + 0.25
        results = await asyncio.gather(*(decoder.run(key, deadline, job, log, f"f{i}", 0.1) for i in range(8)),
                                       return_exceptions=True)
        assert decoder.free == 1  # every slot given back, refused jobs included
        other = decoder.new_request()
        assert await decoder.run(other, time.monotonic() + 5, job, log, "later") == "later"
        decoder.shutdown()
        return results

    results = asyncio.run(main())
    done = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, DecodeBudgetExceeded)]
    assert 2 <= len(done) <= 4 and len(done) + len(refused) == 8
    assert results[: len(done)] == done  # in order: the first files decoded, the rest refused


def test_a_cancelled_request_gives_its_places_back():
    async def main() -> int:
        decoder, log = FairDecoder(1), []
        far = time.monotonic() + 60
        key = decoder.new_request()
        tasks = [asyncio.create_task(decoder.run(key, far, job, log, f"f{i}", 0.05)) for i in range(5)]
        await asyncio.sleep(0.02)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.1)  # the running decode finishes in its thread
        other = decoder.new_request()
        result = await asyncio.wait_for(decoder.run(other, far, job, log, "after"), 5)
        decoder.shutdown()
        assert result == "after"
        return decoder.free

    assert asyncio.run(main()) == 1


@pytest.mark.parametrize("workers", [1, 3])
def test_free_slots_never_exceed_the_threads(workers):
    async def main() -> int:
        decoder, log = FairDecoder(workers), []
        far = time.monotonic() + 60
        keys = [decoder.new_request() for _ in range(4)]
        await asyncio.gather(*(decoder.run(k, far, job, log, f"{k}-{i}", 0.01) for k in keys for i in range(3)))
        decoder.shutdown()
        return decoder.free

    assert asyncio.run(main()) == workers
