"""Start and stop a local Kubernetes control plane for headwater's end-to-end tests."""
