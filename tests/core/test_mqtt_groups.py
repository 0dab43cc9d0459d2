"""MQTT consumers against the real Mosquitto: consumers of one group share the messages (two web nodes
apply each unit message once between them), consumers without a group each get every message.
"""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt
import pytest

from conftest import MQTT_HOST, MQTT_PORT, START, answers, missing_part, wait_until_async
from safecity.core import mqtt

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("group", "each"), [("nodes", False), (None, True)])
async def test_consumers_of_a_group_share_the_messages(group: str | None, each: bool) -> None:
    if not answers(MQTT_HOST, MQTT_PORT):
        missing_part(f"Mosquitto at {MQTT_HOST}:{MQTT_PORT}", f"start it (as root: {START['mosquitto']})")
    prefix = f"test/{uuid.uuid4().hex[:10]}"
    group = f"{group}-{uuid.uuid4().hex[:6]}" if group else None
    got: list[list[bytes]] = [[], []]
    stop = asyncio.Event()
    ready = [asyncio.Event(), asyncio.Event()]
    consumers = [
        asyncio.create_task(
            mqtt.consume(
                topics=[f"{prefix}/+/status"],
                handle=lambda _topic, payload, mine=mine: mine.append(payload),
                what="test messages",
                stop=stop,
                host=MQTT_HOST,
                port=MQTT_PORT,
                reconnect_s=0.5,
                ready=ready[n],
                group=group,
            )
        )
        for n, mine in enumerate(got)
    ]
    for event in ready:
        await asyncio.wait_for(event.wait(), 15)
    sent = [f"m{n}".encode() for n in range(20)]
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
        for n, payload in enumerate(sent):
            await client.publish(f"{prefix}/unit-{n % 3}/status", payload, qos=1)
    expected = 2 * len(sent) if each else len(sent)
    await wait_until_async(lambda: len(got[0]) + len(got[1]) >= expected, within=15)
    await asyncio.sleep(0.5)  # nothing more comes
    stop.set()
    await asyncio.gather(*consumers)
    if each:
        assert sorted(got[0]) == sorted(got[1]) == sorted(sent)
    else:
        assert sorted(got[0] + got[1]) == sorted(sent)  # each message applied once, by one of them
