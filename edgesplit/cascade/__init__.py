"""Complementary CNN cascades with a memo cache (Kinnas et al., 2024); importing it does not import torch.

Modules: `models` (CNN specs, FLOPs), `complementarity` (pair choice), `cascade` (scores, lambda search,
inference), `memo` (dHash, LRU cache), `energy`, `train` (training, checkpoints), `bench`, `workload`
(duplicated streams and per-request records for simulators).
"""
