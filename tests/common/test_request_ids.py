"""Minted request ids: 16 hex digits, never repeated, across buffer refills and forks."""

from __future__ import annotations

import os

from shopnet.common.http import new_request_id


def test_minted_ids_are_hex_and_unique_across_refills() -> None:
    ids = [new_request_id() for _ in range(2000)]  # ~4 refills of the 4 KiB buffer
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_reuse_its_parents_buffer() -> None:
    new_request_id()  # the buffer is filled in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id, then leave without cleanup
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child != new_request_id()
