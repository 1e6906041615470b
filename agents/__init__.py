"""Offloading agents: Com-DDPG (`agents.com_ddpg`), Stable-Baselines3 baselines (`agents.sb3`), evaluation."""
