"""Validation tests: the model's figures against their cited sources."""
