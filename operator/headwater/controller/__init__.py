"""The Kubernetes operator: kopf handlers over the same pure core the local executor uses."""
