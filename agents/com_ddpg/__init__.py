"""Com-DDPG: communicating multi-agent DDPG for task offloading (actors with LSTM + messages, BiGRU, central critic)."""

from agents.com_ddpg.algorithm import ComDDPG
from agents.com_ddpg.config import ComDDPGConfig

__all__ = ["ComDDPG", "ComDDPGConfig"]
