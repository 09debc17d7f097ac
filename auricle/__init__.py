"""auricle: Qwen-Audio and Qwen2-Audio inference, training and data, in plain PyTorch."""

from auricle.api import AudioModel, available_models, load
from auricle.chat import ChatSession

__version__ = "0.1.0"
__all__ = ["AudioModel", "ChatSession", "available_models", "load", "__version__"]
