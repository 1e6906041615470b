"""The Ray engine: device shards and servers in Ray actors, advanced in conservative virtual-time windows."""
