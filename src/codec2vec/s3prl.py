"""codec2vec models as s3prl upstreams, so SUPERB numbers can be checked in s3prl (and ESPnet) itself.

    import codec2vec.s3prl
    codec2vec.s3prl.register()                      # adds `codec2vec` to s3prl.hub
    from s3prl.nn import S3PRLUpstream, Featurizer
    upstream = S3PRLUpstream("codec2vec", path_or_url="runs/online")   # any codec2vec.load() spec

`codec2vec export RUN --out DIR --s3prl` also writes DIR/expert.py and requirements.txt, the files
s3prl's `run_downstream.py --hub huggingface -u OWNER/REPO` loads from a Hub repository.

s3prl is optional and imported only by `register()` (it needs torchaudio, which has no build for
every torch; the expert itself does not). `UpstreamExpert` follows s3prl's upstream interface:
a list of 16 kHz waveforms in, `{"hidden_states": [L + 1 x (B, T, D)]}` out, an integer
downsample rate. It runs with gradients (s3prl fine-tunes upstreams when asked), quantizer dropout
off; the codec's discrete units carry no gradient, as in the paper.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import torch
from torch import nn

from codec2vec.errors import ConfigError
from codec2vec.eval.upstream import Upstream, load_upstream
from codec2vec.models.inputs import AUDIO_RATE

HUB_NAME = "codec2vec"


def downsample_rate(upstream: Upstream) -> int:
    """16 kHz samples per hidden state; refused when that is not a whole number (s3prl needs one)."""
    rate = Fraction(AUDIO_RATE) / Fraction(upstream.frame_rate).limit_denominator(10_000)
    if rate.denominator != 1:
        raise ConfigError(f"{upstream.name}: {upstream.frame_rate} frames/s is {float(rate):.3f} samples of 16 kHz "
                          "audio per frame; s3prl needs a whole number (a codec whose hop at 16 kHz is an integer)")
    return int(rate)


class UpstreamExpert(nn.Module):
    """s3prl's upstream interface over any `codec2vec.load()` spec that has a model (not fbank or a
    codec latent, which have nothing to fine-tune: use s3prl's own fbank)."""

    def __init__(self, ckpt: str, **kwargs):
        super().__init__()
        upstream = load_upstream(ckpt)
        model = getattr(upstream, "model", None)
        if model is None:
            raise ConfigError(f"'{ckpt}' has no model to run in s3prl (fbank, fbank-kaldi and codec latents "
                              "are features: use s3prl's own fbank upstream)")
        self.upstream = upstream
        self.rate = downsample_rate(upstream)

    @property
    def model(self) -> nn.Module:
        return self.upstream.model

    def get_downsample_rates(self, key: str) -> int:
        return self.rate

    def forward(self, wavs: list[torch.Tensor]) -> dict:
        self.upstream.device = next(self.model.parameters()).device  # where s3prl moved the model
        batch = self.upstream.batch_for([w.detach().float().cpu().numpy() for w in wavs])
        x, padding = self.model.features(batch, quantizer_dropout=False)
        return {"hidden_states": self.model.encode(x, padding)}


def register() -> None:
    """Add `codec2vec` to s3prl.hub: S3PRLUpstream("codec2vec", path_or_url=SPEC) then works."""
    import importlib.util

    if importlib.util.find_spec("s3prl") is None:
        raise ConfigError("codec2vec.s3prl.register() needs s3prl: pip install s3prl")
    try:
        from s3prl import hub
    except ImportError as e:
        missing = getattr(e, "name", None) or str(e)
        raise ConfigError(f"s3prl is installed, but its hub does not import: {missing} is missing or broken ({e}); "
                          f"s3prl needs torchaudio, which has no build for every torch (this is {torch.__version__}). "
                          "Without it, codec2vec.s3prl.UpstreamExpert(SPEC) still gives s3prl's upstream interface, "
                          "and `codec2vec export MODEL --out DIR --s3prl` still writes a Hub expert") from None

    def codec2vec(ckpt: str, *args, **kwargs) -> UpstreamExpert:
        return UpstreamExpert(ckpt)

    setattr(hub, HUB_NAME, codec2vec)


EXPERT_PY = '''"""s3prl upstream for this codec2vec export (`run_downstream.py --hub huggingface -u OWNER/REPO`)."""

from pathlib import Path

from codec2vec.s3prl import UpstreamExpert as _Codec2VecExpert


class UpstreamExpert(_Codec2VecExpert):
    def __init__(self, ckpt: str, *args, **kwargs):
        # s3prl passes <this folder>/<--upstream_model_name>: the export is the folder itself.
        super().__init__(str(Path(ckpt).parent))
'''


def write_hub_expert(folder: str | Path) -> None:
    """expert.py and requirements.txt for s3prl's Hugging Face Hub upstreams, into an export folder."""
    from codec2vec import __version__
    from codec2vec.atomic import atomic_write_text

    folder = Path(folder)
    atomic_write_text(folder / "expert.py", EXPERT_PY)
    atomic_write_text(folder / "requirements.txt", f"codec2vec>={__version__}\n")
