"""Torch helpers shared by the split and cascade packages; importing it does not import torch.

Modules: `classifier` (a torch module as a numpy classifier, chunked logits, top-1 accuracy), `fit` (the Adam
one-cycle training loop), `state` (state_dict save and load), `timing` (fair batch-1 wall-time measurement).
"""
