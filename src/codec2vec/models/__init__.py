"""Stage 4 models: input layers (codec units, waveform, log-mel), the Transformer encoder, and
the Codec2Vec model that joins them."""

from codec2vec.models.encoder import PRESETS, EncoderConfig
from codec2vec.models.inputs import INPUT_KINDS, InputConfig
from codec2vec.models.model import Codec2Vec, ModelConfig, build_model, compile_regions
from codec2vec.models.saved import load_pretrained, save_pretrained

__all__ = ["PRESETS", "EncoderConfig", "INPUT_KINDS", "InputConfig", "Codec2Vec", "ModelConfig", "build_model",
           "compile_regions", "load_pretrained", "save_pretrained"]
