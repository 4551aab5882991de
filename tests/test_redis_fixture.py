"""The private Redis fixture works the way the cluster tests need it to."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.redis import SERVER_NAME, RedisServer, commands
from tests.servers import SIGNALS, running, start_in_a_child, survivors
from tests.tools import require_tool


def test_each_test_gets_an_empty_database_of_its_own(redis_server: RedisServer) -> None:
    host, port = redis_server.host, redis_server.port
    first = redis_server.fresh_database()
    assert commands(host, port, ("SELECT", str(first)), ("SET", "stream-1", "x")) == [
        b"+OK",
        b"+OK",
    ]
    second = redis_server.fresh_database()
    assert second != first
    assert commands(host, port, ("SELECT", str(second)), ("DBSIZE",)) == [b"+OK", b":0"]
    assert commands(host, port, ("SELECT", str(first)), ("DBSIZE",)) == [b"+OK", b":1"]


def test_the_url_names_the_database(redis_url: str, redis_server: RedisServer) -> None:
    assert redis_url.startswith(f"redis://127.0.0.1:{redis_server.port}/")
    assert int(redis_url.rsplit("/", 1)[1]) > 0  # database 0 is never a test's


def test_a_stopped_server_refuses_and_comes_back_on_its_port(own_redis: RedisServer) -> None:
    port = own_redis.port
    assert commands(own_redis.host, port, ("PING",)) == [b"+PONG"]
    own_redis.stop()
    with pytest.raises(ConnectionRefusedError):
        commands(own_redis.host, port, ("PING",))
    own_redis.start()
    assert own_redis.port == port
    assert commands(own_redis.host, port, ("PING",)) == [b"+PONG"]


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("how", SIGNALS, ids=lambda s: s.name)
def test_a_run_killed_by_a_signal_leaves_no_redis_behind(
    tmp_path: Path, how: signal.Signals
) -> None:
    """A bench or a pytest run stopped by ``kill``, ``kill -9`` or ^C stops its Redis."""
    require_tool(shutil.which(SERVER_NAME) is not None, f"{SERVER_NAME} not found")
    setup = "from pathlib import Path\nfrom tests.redis import RedisServer\n"
    setup += f"server = RedisServer(Path({str(tmp_path / 'redis')!r}))"
    child, pid = start_in_a_child(setup)
    assert running(pid)
    assert survivors(child, pid, how) == set()
