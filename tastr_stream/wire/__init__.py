"""Records and the wire protocol. Only this package imports zmq and msgpack."""

from .codec import MESSAGE_TYPES, SCHEMA_VERSION, decode, encode
from .records import Detection, TrackObservation, Tracklet, WeightsAnnouncement

__all__ = ["Detection", "MESSAGE_TYPES", "SCHEMA_VERSION", "TrackObservation", "Tracklet",
           "WeightsAnnouncement", "decode", "encode"]
