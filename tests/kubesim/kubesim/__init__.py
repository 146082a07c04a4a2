"""kubesim: a Kubernetes API emulator (see DESIGN.md and docs/kubesim.md)."""

__version__ = "0.1.0"
# The Kubernetes version kubesim reports on /version and in discovery.
KUBE_VERSION = "v1.34.2"
