"""`python -m agent CONFIG.json`: run the node agent until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .api import Api
from .config import AgentConfig
from .events import EventRecorder
from .logserver import LogServer
from .manager import PodManager
from .node import NodeKeeper
from .pod import AgentContext
from .provisioner import Provisioner
from .scheduler import Scheduler

log = logging.getLogger("agent")


async def _forever(name: str, factory) -> None:  # type: ignore[no-untyped-def]
    """Run a long-lived coroutine, restarting it after unexpected errors."""
    while True:
        try:
            await factory()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s crashed; restarting", name)
            await asyncio.sleep(1)


async def run(config: AgentConfig) -> None:
    api = Api(config.server, config.ca, config.node_cert, config.node_key)
    scheduler_api = Api(config.server, config.ca, config.scheduler_cert, config.scheduler_key)
    provisioner_api = Api(config.server, config.ca, config.provisioner_cert, config.provisioner_key)
    marker = (
        {"HEADWATER_CLUSTER": os.environ["HEADWATER_CLUSTER"]}
        if "HEADWATER_CLUSTER" in os.environ
        else {}
    )
    kubelet_events = EventRecorder(api, "kubelet", config.node_name)
    manager = PodManager(AgentContext(config, api, marker, kubelet_events))
    logs = LogServer(config, manager)
    node = NodeKeeper(api, config)
    await logs.start()
    while True:
        try:
            await node.register()
            break
        except Exception as err:
            log.warning("node registration failed: %s", err)
            await asyncio.sleep(0.5)
    log.info(
        "node %s registered; log server on 127.0.0.1:%d", config.node_name, config.kubelet_port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(_forever(name, factory))
        for name, factory in (
            ("node heartbeat", node.run),
            ("scheduler", Scheduler(scheduler_api, config.node_name).run),
            ("provisioner", Provisioner(provisioner_api, config).run),
            ("pod manager", manager.run),
        )
    ]
    await stop.wait()
    log.info("stopping: killing pod processes")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await manager.shutdown()
    await logs.stop()
    for client in (api, scheduler_api, provisioner_api):
        await client.close()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = AgentConfig.load(Path(sys.argv[1]))
    Path(config.state_dir).mkdir(parents=True, exist_ok=True)
    Path(config.tmpfs_dir).mkdir(parents=True, exist_ok=True)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
