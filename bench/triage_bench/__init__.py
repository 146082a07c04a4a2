"""The triage.k8s benchmark harness (make bench); bench/run.py is the entry point."""
