"""Split computing with learned bottlenecks (BottleFit) and a split planner; importing it does not import torch.

Modules: `models` (generic CNN specs, bottleneck encoder/decoder, per-layer FLOPs and activation bytes),
`wire` (8-bit tensors per sample, raw and PNG images: what goes over the network), `config` (training
settings), `train` (teacher, head distillation, KD fine-tuning, the run and its report), `evaluate` (split
logits, accuracies), `checkpoint` (a trained run on disk), `export` (ONNX serving models), `costs` (the
work of every block: FLOPs and measured time) and `planner` (where to split for a device profile and a link:
latency and device energy of every option).
"""
