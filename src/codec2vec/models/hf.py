"""codec2vec models as transformers models: `AutoModel.from_pretrained(EXPORT)` after `import
codec2vec.models.hf`, which registers `Codec2VecConfig` / `Codec2VecModel` (model_type "codec2vec")
with AutoConfig and AutoModel; no remote code is needed where codec2vec is installed. Where it is
not, `trust_remote_code=True` loads the copy of this module that every export carries (its
`auto_map`; see model.py for why the imports here are relative).

Registration is not done by `import codec2vec` itself: importing transformers' model classes takes
about 2-5 s here, and every `codec2vec` command imports the package (docs/interop.md).

The model reads what codec2vec's own model reads: `units` [B, codebooks, T] (made with the export's
codec, see its config's `codec`) or `audio` [B, samples] at 16 kHz for the waveform and log-mel
baselines, and `frames` [B], and returns every hidden state (input projection and each layer).
"""

from __future__ import annotations

import hashlib

import torch
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from .inputs import LogMelInput, UnitInput
from .model import Codec2Vec, ModelConfig


class Codec2VecConfig(PretrainedConfig):
    """An export's config.json: codec2vec's `model` config, the codec layout, and what made it."""

    model_type = "codec2vec"

    def __init__(self, model: dict | None = None, n_codebooks: int = 0, codebook_size: int = 0, **kwargs):
        self.model, self.n_codebooks, self.codebook_size = model or {}, n_codebooks, codebook_size
        super().__init__(**kwargs)


class Codec2VecModel(PreTrainedModel):
    config_class = Codec2VecConfig
    # An export's weights are codec2vec's own state dict (frontend.*, encoder.*, ...): transformers
    # loads them under this prefix, as it loads a base model's checkpoint into a model with a head.
    base_model_prefix = "codec2vec"
    main_input_name = "units"

    def __init__(self, config: Codec2VecConfig):
        super().__init__(config)
        self.codec2vec = Codec2Vec(ModelConfig.from_dict(config.model), config.n_codebooks,
                                   config.codebook_size)
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' loading, then the check codec2vec makes: model.safetensors must be the file the
        export recorded (config.json's weights_sha256), or the weights are damaged or replaced."""
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        expected = getattr(model.config, "weights_sha256", None)
        if expected:
            from transformers.utils import cached_file

            options = {k: kwargs[k] for k in ("subfolder", "revision", "cache_dir", "local_files_only", "token")
                       if k in kwargs}
            path = cached_file(pretrained_model_name_or_path, "model.safetensors", **options)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != expected:
                raise ValueError(f"{path}: damaged or replaced (its sha256 differs from config.json's "
                                 "weights_sha256); download or export the model again")
        return model

    def _init_weights(self, module: torch.nn.Module) -> None:
        # Only the non-persistent buffers need values: every parameter comes from the checkpoint.
        if isinstance(module, (UnitInput, LogMelInput)):
            module.reset_buffers()

    def forward(self, units: torch.Tensor | None = None, frames: torch.Tensor | None = None,
                audio: torch.Tensor | None = None, **kwargs) -> BaseModelOutput:
        if (units is None) == (audio is None) or frames is None:
            raise ValueError("give frames and either units (unit models) or audio (waveform and log-mel models)")
        batch = {"frames": frames, **({"units": units} if units is not None else {"audio": audio})}
        hidden, _ = self.codec2vec(batch)
        return BaseModelOutput(last_hidden_state=hidden[-1], hidden_states=tuple(hidden))


AutoConfig.register(Codec2VecConfig.model_type, Codec2VecConfig, exist_ok=True)
AutoModel.register(Codec2VecConfig, Codec2VecModel, exist_ok=True)
