"""The world model: profiles, energy, network and entities; pure Python, engine-agnostic."""
