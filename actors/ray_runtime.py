"""This process and Ray: connecting the driver (or starting a local Ray on loopback only), what
Ray says of where this process runs (its node, the dashboard), and what an actor shows Ray of
what it is doing (`Shown`).

Kept apart from the actors (actors.handles): call actors ask for their node here, and the
driver connects before any actor exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Callable
from typing import Any

import ray

NAMESPACE = "neurosphere"
GCS_TASK_EVENTS = 10_000  # actor calls the local Ray's GCS keeps a record of (Ray's task view)
SERVE_CONTROL_LOOP_S = "0.5"  # Serve controller's loop period (Ray's default 0.1)
EVENT_STATS = "0"  # Ray's per-handler timing of its own event loops (Ray's default on)
SHOWN_EVERY_S = 1.0  # what an actor shows in Ray changes at most this often (Shown)


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
    """What an actor is doing now, shown in Ray's dashboard and state API as one RUNNING task of
    the actor named for all of it (its live calls, the tenant it serves), e.g. `call <CallSid>
    (<tenant>); call <CallSid> (<tenant>)`: `ray list tasks --filter state=RUNNING`,
    ray.util.state.list_tasks, the actor's task table in the dashboard. Ray records an actor's
    repr once, when the actor is created, so nothing live can show there.

    `show(key, label)` and `end(key)` change what is shown; within `SHOWN_EVERY_S` of a change
    the running task is replaced by one named for what is shown then: the actor's own method
    `method(token)`, awaiting `hold(token)`, which returns when the task is replaced. One task
    an actor, not one a call: every running task of an async actor holds a fiber's stack in
    Ray's core worker (about 130 KiB each, and more kept as calls come and go), and a burst
    of calls makes one Ray call, not one a call. None per frame. Outside a Ray actor it does
    nothing."""

    def __init__(self, method: str) -> None:
        self._method = method
        self._labels: dict[str, str] = {}  # key -> label, in the order shown
        self._tokens = itertools.count()
        self._holds: dict[str, asyncio.Event] = {}  # the shown task's token -> its end
        self._task: Any = None  # the shown task's ref, kept while it runs
        self._pending: asyncio.TimerHandle | None = None

    def show(self, key: str, label: str) -> None:
        if self._labels.get(key) != label:
            self._labels[key] = label
            self._changed()

    def end(self, key: str) -> None:
        if self._labels.pop(key, None) is not None:
            self._changed()

    def only(self, label: str) -> None:
        """`label` (its own key) alone: whatever was shown before ends (a tenant renamed)."""
        if list(self._labels) != [label]:
            self._labels = {label: label}
            self._changed()

    def end_all(self) -> None:
        """Nothing shown, at once (the actor stops)."""
        self._labels.clear()
        self._replace()

    async def hold(self, token: str) -> None:
        """Until the task holding `token` is replaced (at once when that came first)."""
        done = self._holds.get(token)
        if done is not None:
            await done.wait()

    def _changed(self) -> None:
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called off the actor's loop: nothing to gather changes on
            self._replace()
            return
        self._pending = loop.call_later(SHOWN_EVERY_S, self._replace)

    def _replace(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        for done in self._holds.values():
            done.set()
        self._holds.clear()
        self._task = None
        me = own_actor()
        if not self._labels or me is None:  # nothing to show, or not an actor
            return
        token = str(next(self._tokens))
        self._holds[token] = asyncio.Event()
        label = "; ".join(self._labels.values())
        self._task = getattr(me, self._method).options(name=label).remote(token)
