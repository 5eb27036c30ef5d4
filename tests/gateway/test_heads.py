"""Request heads on the public listener's own protocol are bounded as a whole, as they
arrive (shopnet.common.front_listener): a JSON 431, and a head trickled in small packets
costs time linear in what was read before the refusal. Real sockets."""

from __future__ import annotations

import asyncio
import json
import time

from shopnet.common.front_path import MAX_HEAD
from tests.gateway.conftest import Stack
from tests.support.wire import connect, read_answer

FIELD = b"X-Pad-%03d: " + b"a" * 32000 + b"\r\n"  # each within the per-field limit


async def test_a_head_of_many_long_fields_is_431_as_json(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    for fields in (
        b"".join(FIELD % n for n in range(100)),  # 3.2 MB, at once
        b"".join(b"X-F%03d: v\r\n" % n for n in range(101)),  # one field too many
    ):
        reader, writer = await connect(gateway)
        writer.write(b"GET /api/products/1 HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        status, headers, body = await read_answer(reader)
        writer.close()
        error = json.loads(body)["error"]
        assert (status, error["code"]) == (431, "header_fields_too_large"), error
        assert headers["content-type"] == "application/json" and error["request_id"]
    assert product.hits == 0


async def test_a_head_sent_slowly_costs_cpu_in_proportion(stack: Stack) -> None:
    """3.2 MB of head in 200-byte packets: refused once MAX_HEAD bytes are in, with no
    copy of the unfinished head per packet (before: 1.3 s of CPU for the whole head)."""
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    head = b"GET /api/products/1 HTTP/1.1\r\nHost: x\r\n" + b"".join(FIELD % n for n in range(100))
    reader, writer = await connect(gateway)
    cpu = time.process_time()
    sent = 0
    try:
        for start in range(0, len(head), 200):
            writer.write(head[start : start + 200])
            await writer.drain()
            await asyncio.sleep(0)  # a packet at a time: the gateway reads each alone
            sent += 200
            if reader.at_eof() or len(reader._buffer):  # type: ignore[attr-defined]
                break
    except ConnectionError:
        pass
    status, _, body = await read_answer(reader)
    cpu = time.process_time() - cpu  # both ends: this process runs the gateway too
    writer.close()
    assert (status, json.loads(body)["error"]["code"]) == (431, "header_fields_too_large")
    assert sent < 2 * MAX_HEAD, f"{sent} bytes were read before the refusal"
    assert cpu < 0.3, f"{cpu:.2f} s of CPU for {sent} bytes of head"
    print(f"{sent} bytes in 200-byte packets, {cpu * 1000:.0f} ms CPU")
