"""services/kit/background.py: one loop for every feed follower."""

import asyncio
import logging

from services.kit.background import repeat_forever, stop_task


async def test_a_failing_tick_is_logged_and_the_loop_goes_on_until_stopped(caplog):
    ticks: list[int] = []
    four = asyncio.Event()

    async def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 4:
            four.set()
        if len(ticks) == 2:
            raise ConnectionError("upstream said: 王小明 110101199003077777")

    with caplog.at_level(logging.WARNING, logger="skillpass.background"):
        task = asyncio.create_task(repeat_forever(tick, 0.01, "test feed sync"))
        await asyncio.wait_for(four.wait(), timeout=10)
        await stop_task(task)
    assert task.cancelled() or task.done()
    assert len(ticks) >= 4  # the failure at tick 2 did not end the loop
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["test feed sync failed: ConnectionError"]  # the type only, never the message
    count = len(ticks)
    await asyncio.sleep(0.05)
    assert len(ticks) == count  # stopped means stopped
