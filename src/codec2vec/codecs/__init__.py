"""Stage 2: neural audio codecs that turn audio into discrete units (and back)."""

from codec2vec.codecs.base import Codec, CodecInfo
from codec2vec.codecs.registry import CODECS, CodecError, load_codec

__all__ = ["CODECS", "Codec", "CodecError", "CodecInfo", "load_codec"]
