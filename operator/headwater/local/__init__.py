"""The local executor: the engine plus a pool of runner subprocesses, no cluster."""
