"""A test node agent: a kubelet stand-in that runs Pod containers as local processes.

Modules, one job each:
  config       the agent's settings (written by tests/cluster/up as agent.json)
  api          a small asyncio REST client for the Kubernetes API (aiohttp)
  events       Events, a repeat bumping the count as client-go's recorder does
  node         registers the Node, keeps it Ready and renews its Lease
  scheduling   whether a Pod fits the node, in kube-scheduler's words (pure)
  scheduler    binds the Pods that fit to this node, reports the others Unschedulable
  provisioner  the default StorageClass's provisioner: hostPath PVs bound to claims
  manager      watches this node's Pods and keeps one PodWorker per Pod
  pod          PodWorker: a Pod's lifecycle (volumes, init containers, containers,
               restarts, deadline, deletion)
  container    one container process: argv, sandbox spec, start, wait, kill
  env          container environment and $(VAR) expansion
  volumes      materialises volumes as directories
  status       builds the Pod status a kubelet would report
  images       entrypoints for images without a command; which images cannot pull
  logserver    the kubelet's /containerLogs endpoint over TLS
  sandbox      standalone helper run under `unshare --mount`: bind mounts, then exec
"""
