"""This process and Ray: connecting the driver (or starting a local Ray on loopback only), what
Ray says of where this process runs (its node, the dashboard), and what an actor shows Ray of
what it is doing (`Shown`).

Kept apart from the actors (actors.handles): call actors ask for their node here, and the
driver connects before any actor exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import Any

import ray

NAMESPACE = "neurosphere"
GCS_TASK_EVENTS = 10_000  # actor calls the local Ray's GCS keeps a record of (Ray's task view)
SERVE_CONTROL_LOOP_S = "0.5"  # Serve controller's loop period (Ray's default 0.1)
EVENT_STATS = "0"  # Ray's per-handler timing of its own event loops (Ray's default on)


def init(
    address: str | None, *, call_slots: int, dashboard: bool, actor_logs: str | None = None
) -> None:
    """Connect to (or start) Ray for the driver. `actor_logs` ("json" or "console"): the
    actors' log lines are streamed to the driver's stderr (`neurosphere serve`: the operator's
    log stream, see `_stream_actor_logs`); None: they stay in Ray's log files on each node
    (demo, tests, benchmarks)."""
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": actor_logs is not None}
    if actor_logs is not None:
        kwargs |= _stream_actor_logs(actor_logs)
    if address:
        ray.init(address=address, **kwargs)
    else:
        # Ray starts its workers at niceness 15 (below its own daemons); call actors carry
        # real-time audio, so the local Ray runs them at normal priority (cluster.yaml too).
        os.environ.setdefault("RAY_worker_niceness", "0")
        # The GCS keeps an event record of every actor call (claims, call ends, memory requests:
        # some 2000 a minute at 100 calls) for Ray's task view, up to 100000 by default: about
        # 150 MiB it grows into over an hour. The engine reads none of it; a tenth is plenty.
        os.environ.setdefault("RAY_task_events_max_num_task_in_gcs", str(GCS_TASK_EVENTS))
        # Serve's controller runs its control loop every 0.1 s by default: with one ingress
        # replica, no proxy and no autoscaling, that loop was the largest CPU user of an idle
        # node (with the GCS it polls). Every 0.5 s keeps health checks (10 s) and deploys.
        os.environ.setdefault("RAY_SERVE_CONTROL_LOOP_INTERVAL_S", SERVE_CONTROL_LOOP_S)
        # Every Ray process times each handler its event loops run (for Ray's debug_state
        # files and a log line a minute); a worker's main thread alone wakes 100 times a second
        # (Ray's signal check), and the timing was 0.7-1.0 of its 4.7 CPU-ms a second when
        # idle. The engine reads none of it; `RAY_event_stats=1` brings it back for debugging.
        os.environ.setdefault("RAY_event_stats", EVENT_STATS)
        _loopback_only()
        ray.init(
            resources={"call_slot": call_slots},
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            **kwargs,
        )


def _stream_actor_logs(fmt: str) -> dict[str, Any]:
    """Every actor line reaches the driver's stream as it was written. Ray folds lines alike
    from several processes into one ("[repeated 2x across cluster]": the same event from three
    call actors would be one line, with no JSON), so folding is off. With JSON, the job's
    logging config is JSON too: Ray then writes an actor's line without its "(CallActor
    pid=...)" prefix, which would break it, and Python `logging` in every worker (Ray's own
    warnings) writes JSON at WARNING, the level it has without a config."""
    # read by the driver's log printer, imported from the constants when Ray was imported
    ray._private.ray_logging.RAY_DEDUP_LOGS = False  # type: ignore[attr-defined]
    if fmt != "json":
        return {}
    return {"logging_config": ray.LoggingConfig(encoding="JSON", log_level="WARNING")}


def _loopback_only() -> None:
    """A local Ray listens on 127.0.0.1 only: its GCS, raylet, agents, dashboard and every
    worker's gRPC server. Ray binds those to the node's address, and on Linux turns 127.0.0.1
    into the machine's routable address (for clusters) unless it is told this Ray is one
    machine's (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, read when `ray` is imported: the processes
    it starts read it from the environment, this one is told in place)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False


def dashboard_url() -> str | None:
    ctx = ray.get_runtime_context() if ray.is_initialized() else None
    if ctx is None:
        return None
    url = getattr(ctx, "dashboard_url", None) or ray.worker.get_dashboard_url()
    return f"http://{url}" if url and not str(url).startswith("http") else url


def node_address() -> str:
    """This process's Ray node address (what `{host}` in MEDIA_PUBLIC_URL stands for); outside
    Ray (in-process tests) the loopback address."""
    if not ray.is_initialized():
        return "127.0.0.1"
    # the address the node registered with (`ray start --node-ip-address`), not a guess from
    # the routing table: ray.util.get_node_ip_address() guesses in worker processes
    address: str = ray._private.worker.global_worker.node_ip_address
    return address


def replica_grpc_on_loopback() -> None:
    """Call in a Serve replica before it is up. Serve starts a gRPC server in each replica (for
    calls between deployments; the engine makes none) on every interface, `[::]:0`, with no
    setting for it: on a node whose address is loopback (a local Ray) it binds 127.0.0.1."""
    if node_address() != "127.0.0.1":
        return
    from ray.serve._private import replica

    bind: Callable[[Any, str], int] = getattr(replica, "add_port_to_grpc_server")  # noqa: B009
    if getattr(bind, "loopback", False):
        return

    def loopback(server: Any, address: str) -> int:
        if address.startswith("[::]:"):
            address = "127.0.0.1:" + address.removeprefix("[::]:")
        return bind(server, address)

    setattr(loopback, "loopback", True)  # noqa: B010
    setattr(replica, "add_port_to_grpc_server", loopback)  # noqa: B010


def node_id() -> str:
    """This process's Ray node id (which node a call actor lives on); empty outside Ray."""
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


_own: Any = None  # this process's own actor handle, once looked up


def own_actor() -> Any | None:
    """The handle of the actor this process runs, looked up once per process (an actor keeps
    its worker process for life); None outside an actor (the driver, a plain task, an
    in-process harness) or before Ray is up: that is not kept, a worker may take on an actor
    later. Each call setup (`Shown.show`) and call end used to build the handle anew."""
    global _own
    if _own is None and ray.is_initialized():
        with contextlib.suppress(RuntimeError):  # not an actor
            _own = ray.get_runtime_context().current_actor
    return _own


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()


# --- what an actor is doing, where an operator looks ---------------------------------------------


class Shown:
    """What an actor is doing now, shown in Ray's dashboard and state API as a RUNNING task of
    the actor, named for it (a live call, the tenant it serves): `ray list tasks --filter
    state=RUNNING`, ray.util.state.list_tasks, the actor's task table in the dashboard. Ray
    records an actor's repr once, when the actor is created, so nothing live can show there.

    `show(key, label)` starts the actor's own method `method(key)` as a task named `label`; that
    method awaits `hold(key)`, which returns at `end(key)`. One Ray call per `show` (a call set
    up, a tenant's name loaded), none per frame. Outside a Ray actor it does nothing."""

    def __init__(self, method: str) -> None:
        self._method = method
        self._ends: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, Any] = {}  # the tasks' refs, kept while they run

    def show(self, key: str, label: str) -> None:
        if key in self._ends:
            return
        me = own_actor()
        if me is None:  # not an actor (the driver, an in-process harness)
            return
        self._ends[key] = asyncio.Event()
        self._tasks[key] = getattr(me, self._method).options(name=label).remote(key)

    def end(self, key: str) -> None:
        done = self._ends.pop(key, None)
        self._tasks.pop(key, None)
        if done is not None:
            done.set()

    def only(self, label: str) -> None:
        """`label` (its own key) alone: whatever was shown before ends (a tenant renamed)."""
        if label not in self._ends:
            self.end_all()
            self.show(label, label)

    def end_all(self) -> None:
        for key in list(self._ends):
            self.end(key)

    async def hold(self, key: str) -> None:
        """Until `end(key)` (at once when it came first)."""
        done = self._ends.get(key)
        if done is not None:
            await done.wait()
