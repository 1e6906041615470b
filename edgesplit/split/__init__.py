"""Split computing with learned bottlenecks (BottleFit) and a split planner; importing it does not import torch.

Modules: `models` (generic CNN specs, bottleneck encoder/decoder, per-layer FLOPs and activation bytes),
`wire` (8-bit tensors per sample, raw and PNG images: what goes over the network), `train` (teacher, head
distillation, KD fine-tuning, checkpoints, TorchScript export), `planner` (where to split for a device profile
and a link: latency and device energy of every option).
"""
