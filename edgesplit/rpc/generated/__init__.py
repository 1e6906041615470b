"""Generated from protos/edgesplit.proto by `python -m edgesplit.rpc.regen`; do not edit."""
