"""auricle: Qwen-Audio and Qwen2-Audio inference, training and data, in plain PyTorch."""

__version__ = "0.1.0"
