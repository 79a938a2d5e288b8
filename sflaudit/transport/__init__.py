"""A real client/server transport for SFL training: typed frames over TCP, a shared-token handshake, timeouts.

``frames`` (the wire format), ``connection`` (one socket), ``auth`` (HMAC challenge–response), ``state`` (a client's
resumable state as tensors), ``listener`` (accept and seat N clients), ``server`` (``RemoteClients``: the trainer's
client side over TCP), ``client`` (one client process), ``driver`` (``sflaudit train --transport tcp``).
"""

from sflaudit.transport.frames import HEADER_BYTES, MAX_FRAME_BYTES, FrameType, TransportError, tensor_frame_overhead
from sflaudit.transport.settings import TransportSettings

__all__ = ["HEADER_BYTES", "MAX_FRAME_BYTES", "FrameType", "TransportError", "TransportSettings",
           "tensor_frame_overhead"]
