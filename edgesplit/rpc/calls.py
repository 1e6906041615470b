"""The Inference service's calls on one channel as a device makes them: requests go out as prepared bytes."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.generated import edgesplit_pb2_grpc as pb_grpc
from edgesplit.rpc.service import SERVICE

_PREFIX = f"/{SERVICE}/"


@dataclass
class Outgoing:
    """A request ready to send: its id and its serialized InferRequest (built once, resent as is)."""

    request_id: str
    payload: bytes


def _payload(out: Outgoing) -> bytes:
    return out.payload


class Calls:
    """The three methods on one channel; requests go out as prepared bytes (see tensors.encode_request)."""

    def __init__(self, channel: grpc.Channel) -> None:
        parse = pb.InferResponse.FromString
        self.infer = channel.unary_unary(_PREFIX + "Infer", request_serializer=_payload, response_deserializer=parse)
        self.infer_stream = channel.stream_stream(
            _PREFIX + "InferStream", request_serializer=_payload, response_deserializer=parse
        )
        self.health = pb_grpc.InferenceStub(channel).Health
