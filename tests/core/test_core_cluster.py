"""The cluster layer: NodePool, AppManager and Service over two embedded nodes."""

from __future__ import annotations

import asyncio

import pytest

import switchio_lab as switchio
from switchio_lab import apps as app_registry
from switchio_lab.apps import AppManager
from switchio_lab.pool import NodePool, PoolError, split_contact
from switchio_lab.service import Service
from switchio_lab.sim import Cluster, Node, NodeConfig
from switchio_lab.testing import scaled, until


class Recorder:
    """Answers inbound legs; records, per instance, what it saw and on which node."""

    def __init__(self) -> None:
        self.answered: list[tuple[str, str]] = []

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()

    @switchio.callback("CHANNEL_ANSWER")
    def on_answer(self, sess):
        self.answered.append((sess.host, sess.direction))


class Tracked:
    """An app whose prepost fails on one host, and that counts setups and teardowns."""

    setups: list[str] = []
    teardowns: list[str] = []
    fail_on = "127.0.0.2"

    def prepost(self, client):
        if client.host == self.fail_on:
            raise RuntimeError(f"no licence on {client.host}")
        Tracked.setups.append(client.host)
        yield
        Tracked.teardowns.append(client.host)

    @switchio.callback("CHANNEL_ANSWER")
    def on_answer(self, sess):
        pass


def make_pool(cluster: Cluster) -> NodePool:
    return NodePool(switchio.Client(n.host, n.esl_port, reconnect=False) for n in cluster)


@pytest.fixture
async def pool(sim_cluster: Cluster):
    pool = await make_pool(sim_cluster).connect()
    yield pool
    await pool.disconnect()


# -- NodePool ---------------------------------------------------------------------------------
async def test_pool_api_map_and_lookup_across_nodes(pool: NodePool) -> None:
    statuses = await pool.api("status")
    assert list(statuses) == ["127.0.0.1", "127.0.0.2"]
    assert all(body.startswith("UP ") for body in statuses.values())
    names = await pool.api("global_getvar hostname")
    assert names == {"127.0.0.1": "switchio-lab-1", "127.0.0.2": "switchio-lab-2"}

    assert len(pool) == 2 and pool.connected
    assert pool.hosts == ["127.0.0.1", "127.0.0.2"] == [c.host for c in pool]
    assert pool["127.0.0.2"] is pool[1] and "127.0.0.2" in pool and "10.0.0.1" not in pool
    assert pool[f"127.0.0.1:{pool[0].port}"] is pool[0]
    with pytest.raises(KeyError, match="10.0.0.9"):
        pool["10.0.0.9"]
    assert [pool.next().host for _ in range(3)] == ["127.0.0.1", "127.0.0.2", "127.0.0.1"]

    # plain results and awaitables (run concurrently) alike
    assert await pool.map(lambda c: c.listener.count_calls()) == {
        "127.0.0.1": 0, "127.0.0.2": 0}
    hosts = await pool.map(lambda c: c.cmd("global_getvar local_ip_v4"))
    assert hosts == {"127.0.0.1": "127.0.0.1", "127.0.0.2": "127.0.0.2"}


async def test_pool_map_reports_which_node_failed(pool: NodePool) -> None:
    async def only_first(client):
        if client.host == "127.0.0.2":
            raise ValueError("boom")
        return client.host

    with pytest.raises(PoolError, match=r"only_first failed on 1 of 2 node\(s\): 127\.0\.0\.2")\
            as info:
        await pool.map(only_first)
    assert info.value.results == {"127.0.0.1": "127.0.0.1"}
    assert isinstance(info.value.errors["127.0.0.2"], ValueError)
    mixed = await pool.map(only_first, return_exceptions=True)
    assert mixed["127.0.0.1"] == "127.0.0.1" and isinstance(mixed["127.0.0.2"], ValueError)
    with pytest.raises(PoolError, match=r"map failed on 2 of 2 .*Command not found"):
        await pool.map(lambda c: c.cmd("bogus_cmd"))
    with pytest.raises(PoolError, match="api 'bogus_cmd' failed on 2 of 2"):
        await pool.api("bogus_cmd", check=True)
    assert set(await pool.api("bogus_cmd")) == {"127.0.0.1", "127.0.0.2"}  # -ERR bodies


async def test_pool_connect_failure_disconnects_the_others(sim_cluster: Cluster) -> None:
    await sim_cluster[1].stop()  # node 2 is down
    pool = make_pool(sim_cluster)
    with pytest.raises(PoolError, match=r"connect failed on 1 of 2 node\(s\): 127\.0\.0\.2"):
        await pool.connect()
    assert not pool[0].connected and not pool.connected


def test_pool_names_split_contacts_and_refuse_duplicates() -> None:
    a = switchio.Client("127.0.0.1", 8021)
    b = switchio.Client("127.0.0.1", 8022)
    pool = NodePool([a, b, switchio.Client("127.0.0.2")])
    assert pool.names == ["127.0.0.1:8021", "127.0.0.1:8022", "127.0.0.2"]
    assert pool["127.0.0.1:8022"] is b and pool["127.0.0.2"] is pool[2]
    with pytest.raises(KeyError, match="ambiguous"):
        pool["127.0.0.1"]
    with pytest.raises(ValueError, match="already has a client for 127.0.0.1:8021"):
        pool.add(switchio.Client("127.0.0.1", 8021))
    assert pool.remove("127.0.0.2").host == "127.0.0.2" and len(pool) == 2
    with pytest.raises(LookupError):
        NodePool().next()

    assert split_contact("10.0.0.1") == [("10.0.0.1", 8021, "ClueCon")]
    assert split_contact("10.0.0.1:8030", auth="pw") == [("10.0.0.1", 8030, "pw")]
    assert split_contact(("10.0.0.2", "8031")) == [("10.0.0.2", 8031, "ClueCon")]
    assert split_contact("[::1]:8040") == [("::1", 8040, "ClueCon")]
    assert split_contact("::1", port=9000) == [("::1", 9000, "ClueCon")]
    with pytest.raises(ValueError, match="start the node first"):
        split_contact(Node(NodeConfig(esl_port=0)))
    with pytest.raises(TypeError, match="cannot tell which node"):
        split_contact(3.5)


# -- AppManager -------------------------------------------------------------------------------
async def test_app_loads_on_every_node_and_each_side_handles_its_leg(pool, sim_cluster):
    manager = AppManager(pool)
    app_id = await manager.load_app(Recorder, on_value="rec")
    assert app_id == "rec" and manager.apps == {"rec": Recorder}
    instances = manager.instances("rec")
    assert set(instances) == {"127.0.0.1", "127.0.0.2"}
    first, second = instances.values()
    assert first is not second  # a class: one instance per node
    assert set(map(id, manager.iterapps())) == {id(first), id(second)}

    job = await pool[0].originate(f"doggy@{sim_cluster[1].sip_address()}", app_id="rec")
    assert (await job.wait(scaled(5))).startswith("+OK"), job.result
    await until(lambda: first.answered and second.answered)
    assert first.answered == [("127.0.0.1", "outbound")]  # the caller, on node 1
    assert second.answered == [("127.0.0.2", "inbound")]  # the callee, on node 2
    await pool.map(lambda c: c.hupall(timeout=5))

    await manager.unload_app("rec")
    assert manager.apps == {} and all("rec" not in c.apps for c in pool)
    with pytest.raises(switchio.AppError, match="no app 'rec' loaded on any node"):
        await manager.unload_app("rec")


async def test_default_id_shared_instance_and_hot_swap_everywhere(pool) -> None:
    manager = AppManager(pool)
    shared = Recorder()
    assert await manager.load_app(shared) == "default"
    assert all(inst is shared for inst in manager.instances("default").values())
    assert await manager.load_app(Recorder) == "Recorder"  # "default" is taken
    with pytest.raises(switchio.AppError, match=r"already loaded under 'Recorder' on "
                                                r"\['127\.0\.0\.1', '127\.0\.0\.2'\]"):
        await manager.load_app(Recorder)

    class Recorder2(Recorder):
        pass

    assert await manager.reload_app(Recorder2, "Recorder") == "Recorder"
    assert {type(i) for i in manager.instances("Recorder").values()} == {Recorder2}
    assert manager.apps == {"default": shared, "Recorder": Recorder2}
    with pytest.raises(switchio.AppError, match="not an app"):
        await manager.load_app(object)


async def test_a_failure_on_one_node_rolls_the_load_back(pool) -> None:
    manager = AppManager(pool)
    Tracked.setups.clear()
    Tracked.teardowns.clear()
    with pytest.raises(switchio.AppError, match=r"failed on node 127\.0\.0\.2: .*no licence "
                                                r"on 127\.0\.0\.2.*unloaded it from 127\.0\.0\.1"):
        await manager.load_app(Tracked, on_value="lic")
    assert all("lic" not in c.apps for c in pool) and manager.apps == {}
    assert Tracked.setups == ["127.0.0.1"] and Tracked.teardowns == ["127.0.0.1"]

    # a failed swap leaves every node on the app it had
    await manager.load_app(Recorder, on_value="lic")
    before = manager.instances("lic")
    with pytest.raises(switchio.AppError, match=r"restored the previous app on 127\.0\.0\.1"):
        await manager.reload_app(Tracked, "lic")
    after = manager.instances("lic")
    assert after.keys() == before.keys()
    assert all(after[n] is before[n] for n in before)
    assert manager.apps == {"lic": Recorder}
    # node 1 set the new app up, and tore it down when it was swapped back out
    assert Tracked.setups == Tracked.teardowns == ["127.0.0.1", "127.0.0.1"]


def test_app_registry_decorator() -> None:
    @app_registry.app
    class Hello:
        @switchio.callback("CHANNEL_ANSWER")
        def on_answer(self, sess):
            pass

    assert app_registry.get("Hello") is Hello and app_registry.registry["Hello"] is Hello

    @app_registry.app  # the same cell run again: replaces it
    class Hello:  # noqa: F811
        @switchio.callback("CHANNEL_ANSWER")
        def on_answer(self, sess):
            pass

    assert app_registry.get("Hello") is Hello

    @app_registry.app("Greeter")
    class Other:
        @switchio.callback("CHANNEL_PARK")
        def on_park(self, sess):
            pass

    assert app_registry.get("Greeter") is Other and app_registry.get("Other") is None
    with pytest.raises(ValueError, match="'Greeter' is already registered"):
        app_registry.app(name="Greeter")(Hello)
    with pytest.raises(switchio.AppError, match="not an app"):
        app_registry.app(type("Empty", (), {}))
    for name in ("Hello", "Greeter"):
        app_registry.registry.pop(name)


async def test_load_a_registered_app_by_name(pool) -> None:
    app_registry.register(Recorder, "RecorderByName")
    try:
        manager = AppManager(pool)
        assert await manager.load_app("RecorderByName", on_value="r") == "r"
        assert {type(i) for i in manager.instances("r").values()} == {Recorder}
        with pytest.raises(switchio.AppError, match="no app registered as 'Nope'"):
            await manager.load_app("Nope")
    finally:
        app_registry.registry.pop("RecorderByName")


# -- Service ------------------------------------------------------------------------------------
async def test_service_lifecycle_with_embedded_nodes(sim_cluster: Cluster) -> None:
    svc = Service(sim_cluster, reconnect=False)
    assert svc.pool.names == ["127.0.0.1", "127.0.0.2"] and not svc.running
    await svc.apps.load_app(Recorder, on_value="rec")  # before run: subscribed on connect
    assert await svc.run(block=False) is svc
    assert svc.running and svc.pool.connected
    first, second = svc.apps.instances("rec").values()

    job = await svc.pool.next().originate(f"doggy@{sim_cluster[1].sip_address()}",
                                          app_id="rec")
    assert (await job.wait(scaled(5))).startswith("+OK"), job.result
    await until(lambda: first.answered and second.answered)
    assert "running" in repr(svc)
    await svc.pool.map(lambda c: c.hupall(timeout=5))

    await svc.stop()
    assert not svc.running and not any(c.connected for c in svc.pool)
    assert svc.apps.apps == {}  # disconnecting unloads the apps
    await svc.stop()  # idempotent
    assert not sim_cluster[0].channels and not sim_cluster[1].channels


async def test_service_run_blocks_until_stopped_or_cancelled(sim_cluster: Cluster) -> None:
    svc = Service([(n.host, n.esl_port) for n in sim_cluster], reconnect=False)
    task = asyncio.ensure_future(svc.run(block=True))
    await until(lambda: svc.running)
    assert not task.done()
    assert (await svc.pool.api("status"))["127.0.0.2"].startswith("UP")
    await svc.stop()
    assert await asyncio.wait_for(task, scaled(2)) is svc

    task = asyncio.ensure_future(svc.run(block=True))  # it can run again
    await until(lambda: svc.running)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not svc.running and not svc.pool[0].connected


async def test_service_as_context_manager_with_host_port_contacts(sim_cluster) -> None:
    contacts = [f"{n.host}:{n.esl_port}" for n in sim_cluster]
    async with Service(contacts, reconnect=False) as svc:
        assert svc.running and len(svc.pool) == 2
        assert await svc.apps.load_app(Recorder) == "default"
        assert set(svc.apps.instances("default")) == {"127.0.0.1", "127.0.0.2"}
    assert not svc.running and not svc.pool.connected
    single = Service(sim_cluster[0])
    assert single.pool.names == ["127.0.0.1"] and single.pool[0].port == sim_cluster[0].esl_port
    with pytest.raises(ValueError, match="at least one node"):
        Service([])
