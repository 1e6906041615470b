"""Engines that advance the world model: the single-process event engine and (later) Ray."""
