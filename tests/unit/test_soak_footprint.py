"""What the soak reads of each process: of its file descriptors, the TCP connections to another
Ray process are counted apart (their number follows the workers alive, not the calls), read
from this machine's real sockets; and the growth per role carries them first and last."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from bench.soak_footprint import Series, _ray_links, growth


@pytest.fixture
def connection() -> Iterator[None]:
    """A loopback TCP connection with both ends in this process."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            yield
        finally:
            client.close()
            accepted.close()


def test_a_connection_to_a_ray_process_is_counted_as_rays(connection: None) -> None:
    # both ends are this process: as a control actor, each end's peer is a Ray process
    assert _ray_links({os.getpid(): "control actors"}) == {os.getpid(): 2}


def test_a_connection_to_anything_else_is_not(connection: None) -> None:
    # the same connection in the driver (the load generator's side): not Ray's
    assert _ray_links({os.getpid(): "driver"}).get(os.getpid(), 0) == 0
    assert _ray_links({os.getpid(): "postgres"}).get(os.getpid(), 0) == 0


def test_growth_carries_each_roles_ray_links_first_and_last() -> None:
    def series(pid: int, fds: list[int], links: list[int]) -> Series:
        return Series(
            pid, "call actors", 0.0, t=[0.0, 10.0], uss_mb=[50.0, 50.0], fds=fds,
            ray_links=links, threads=[20, 20],
        )  # fmt: skip

    grew = growth([series(1, [60, 62], [10, 12]), series(2, [58, 59], [9, 9])], 0.0, 10.0, 1.0)
    role = grew["call actors"]
    assert (role["fds_first"], role["fds_last"]) == (118, 121)
    assert (role["ray_links_first"], role["ray_links_last"]) == (19, 21)
    assert role["fds_max_growth"] == 2
