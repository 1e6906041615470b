"""edgesplit: a testbed for edge/mobile offloading and split computing."""

__version__ = "0.1.0"
