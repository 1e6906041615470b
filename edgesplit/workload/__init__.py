"""Workloads: task DAGs, trace parsers and synthetic generators."""
