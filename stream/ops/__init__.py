"""Operating recstream: the local stack, the worker entry point, worker fleets, the demo and inspect."""
