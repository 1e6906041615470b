"""gRPC data plane: tensor codec, edge inference server and device client (generated code in generated/)."""
