"""Whether a local Run's driver still runs: a driver this process started counts as
alive until it is reaped, even before it has exec'd (its cmdline is then still ours)."""

import subprocess
import sys

from headwater.sdk import local


def test_a_driver_we_started_is_alive_until_it_ends_whatever_its_cmdline_says() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    local._drivers[process.pid] = process
    try:
        # The marker is the bundle path, which this command line lacks, as a driver's
        # does between fork and exec.
        assert local._alive(process.pid, "/nowhere/submitted.yaml")
    finally:
        process.kill()
        process.wait()
    assert not local._alive(process.pid, "/nowhere/submitted.yaml")
    assert process.pid not in local._drivers
