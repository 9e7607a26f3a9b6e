"""A test node agent: a kubelet stand-in that runs Pod containers as local processes.

Modules, one job each:
  config     the agent's settings (written by tests/cluster/up as agent.json)
  api        a small asyncio REST client for the Kubernetes API (aiohttp)
  node       registers the Node, keeps it Ready and renews its Lease
  binder     binds unscheduled Pods to this node (there is no scheduler)
  manager    watches this node's Pods and keeps one PodWorker per Pod
  pod        PodWorker: a Pod's lifecycle (volumes, init containers, containers,
             restarts, deadline, deletion)
  container  one container process: argv, sandbox spec, start, wait, kill
  env        container environment and $(VAR) expansion
  volumes    materialises volumes as directories
  status     builds the Pod status a kubelet would report
  images     image name -> entrypoint table for containers without a command
  logserver  the kubelet's /containerLogs endpoint over TLS
  sandbox    standalone helper run under `unshare --mount`: bind mounts, then exec
"""
