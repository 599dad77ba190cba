"""What every codec offers the pipeline: exact rates, encode/decode with lengths, codebook vectors.

Codes are only comparable between runs when they come from the same weights at the same rates,
so each codec also describes itself (`Codec.describe()`), and that description goes into the
header of every artifact made from its codes.
"""

from __future__ import annotations

import abc
import math
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from codec2vec.integrity import tensors_digest


@dataclass(frozen=True)
class CodecInfo:
    """The facts about a codec that decide whether two sets of codes are compatible."""

    codec_id: str  # the name or hub id it was loaded as, e.g. "descript/dac_16khz" or "default"
    architecture: str  # "dac", "encodec", "mimi"
    weights_hash: str  # sha256 of the weights (tensor names, shapes, dtypes and bytes)
    sample_rate: int
    frame_rate: Fraction  # exact: 16000/320 = 50, 24000/320 = 75, 24000/1920 = 25/2
    n_codebooks: int
    codebook_size: int

    @property
    def hop_length(self) -> int:
        hop = Fraction(self.sample_rate) / self.frame_rate
        if hop.denominator != 1:
            raise ValueError(f"{self.codec_id}: frame rate {self.frame_rate} does not divide {self.sample_rate} Hz")
        return int(hop)

    @property
    def bits_per_code(self) -> int:
        return math.ceil(math.log2(self.codebook_size))

    @property
    def bitrate(self) -> float:
        """Bits per second of the raw codes (no entropy coding)."""
        return float(self.frame_rate * self.n_codebooks * self.bits_per_code)

    def to_header(self) -> dict:
        return {
            "codec_id": self.codec_id,
            "architecture": self.architecture,
            "weights_hash": self.weights_hash,
            "sample_rate": self.sample_rate,
            "frame_rate": str(self.frame_rate),
            "n_codebooks": self.n_codebooks,
            "codebook_size": self.codebook_size,
        }

    def differences(self, other: "CodecInfo", mine: str = "this", theirs: str = "that") -> list[str]:
        """What makes codes of the two codecs incompatible (the id is a name, not a difference)."""
        a, b = self.to_header(), other.to_header()
        return [f"{k}: {mine} {a[k]!r} vs {theirs + ' ' if theirs else ''}{b[k]!r}"
                for k in a if k != "codec_id" and a[k] != b[k]]

    @classmethod
    def from_header(cls, header: dict) -> "CodecInfo":
        return cls(
            codec_id=header["codec_id"],
            architecture=header["architecture"],
            weights_hash=header["weights_hash"],
            sample_rate=int(header["sample_rate"]),
            frame_rate=Fraction(header["frame_rate"]),
            n_codebooks=int(header["n_codebooks"]),
            codebook_size=int(header["codebook_size"]),
        )


def weights_hash(module: nn.Module) -> str:
    """A content hash of a module's weights, independent of where they were loaded from."""
    return tensors_digest(sorted(module.state_dict().items()))


class Codec(abc.ABC):
    """A neural audio codec as the pipeline sees it.

    Subclasses wrap one model and implement `_encode_padded` (a batch of equal-length audio, padded
    to whole frames) and `_decode`, plus `codebook_vectors`. This class adds resampling, exact frame
    counts and batching that gives the same codes as encoding one utterance at a time.
    """

    architecture: str = ""
    #: None: an utterance's codes are those of its audio zero-padded to whole frames, so only items
    #: of the same frame count can share a forward pass. A number R: its codes are those of its audio
    #: followed by silence, and code frame t depends on frames t - R .. t + R only (a convolutional
    #: encoder), so any items can share a pass, each padded by at least R frames of zeros.
    context_frames: int | None = None

    def __init__(self, model: nn.Module, codec_id: str, sample_rate: int, frame_rate: Fraction,
                 n_codebooks: int, codebook_size: int):
        self.model = model.eval()
        self._codec_id = codec_id
        self.sample_rate = sample_rate
        self.frame_rate = Fraction(frame_rate)
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self._info: CodecInfo | None = None
        self._compiled_encode = None  # set by compile()
        self._compiled_tried = False

    @property
    def info(self) -> CodecInfo:
        if self._info is None:  # hashing a large model takes a moment: only when asked
            self._info = CodecInfo(self._codec_id, self.architecture, weights_hash(self.model),
                                   self.sample_rate, self.frame_rate, self.n_codebooks, self.codebook_size)
        return self._info

    @property
    def hop_length(self) -> int:
        return int(Fraction(self.sample_rate) / self.frame_rate)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> "Codec":
        self.model.to(device)
        return self

    def compile(self) -> "Codec":
        """Encode through torch.compile with dynamic shapes.

        A graph serves a range of lengths, not one: torch specialises a batch of one apart from larger
        batches and splits lengths into a few ranges (docs/codecs.md measures the default codec's).
        Past torch's recompile limit (8 graphs) further shapes run eagerly: slower, same codes.
        The codes are the same as eager encoding's (tests/test_codecs.py checks the default codec on
        real speech); the default codec encodes several times faster on a CPU, where most of its time
        is the elementwise Snake activations that the compiler fuses (docs/codecs.md). Each graph
        compiles once (seconds to a minute); where compiling fails (no C++ compiler, an unsupported
        device) the codec says so once and stays eager."""
        self._compiled_encode = torch.compile(self._encode_padded, dynamic=True)
        self._compiled_tried = False
        return self

    def _run_encoder(self, batch: torch.Tensor) -> torch.Tensor:
        if self._compiled_encode is None:
            return self._encode_padded(batch)
        if self._compiled_tried:
            return self._compiled_encode(batch)
        self._compiled_tried = True
        try:
            return self._compiled_encode(batch)
        except Exception as e:  # the compiler's own failures vary by torch version and platform
            self._compiled_encode = None
            warnings.warn(f"{self._codec_id}: torch.compile failed ({type(e).__name__}: {str(e)[:200]}); "
                          "encoding eagerly (same codes, slower)", stacklevel=2)
            return self._encode_padded(batch)

    def num_frames(self, num_samples: int) -> int:
        """Frames for an utterance of `num_samples` at the codec's rate: a partial frame counts."""
        return max(1, math.ceil(num_samples / self.hop_length))

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, lengths: torch.Tensor | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a padded batch [B, L] of audio at the codec's rate with true `lengths`.

        Returns codes [B, n_codebooks, T] (int64, frames past an item's length are 0) and the frame
        count of each item. Each item's codes equal those of encoding it alone: items are zero-padded
        to whole frames and only items with the same frame count share a forward pass, or, for a
        codec with `context_frames`, all items share one, each followed by that much silence at least.
        """
        if audio.dim() != 2:
            raise ValueError(f"encode expects audio of shape [batch, samples], got {tuple(audio.shape)}")
        lengths = [int(n) for n in lengths]
        frames = [self.num_frames(n) for n in lengths]
        codes = torch.zeros(len(lengths), self.n_codebooks, max(frames), dtype=torch.long)
        groups: dict[int, list[int]] = defaultdict(list)  # padded frame count -> items
        for i, t in enumerate(frames):
            groups[t if self.context_frames is None else max(frames) + self.context_frames].append(i)
        for padded, items in groups.items():
            batch = torch.zeros(len(items), padded * self.hop_length, dtype=torch.float32)
            for row, i in enumerate(items):
                batch[row, : lengths[i]] = audio[i, : lengths[i]]
            out = self._run_encoder(batch.to(self.device))
            if out.shape[1:] != (self.n_codebooks, padded):
                raise RuntimeError(f"{self.info.codec_id}: expected codes of shape "
                                   f"[*, {self.n_codebooks}, {padded}], the model gave {tuple(out.shape)}")
            for row, i in enumerate(items):
                codes[i, :, : frames[i]] = out[row, :, : frames[i]].cpu()
        return codes, torch.tensor(frames)

    def encode_long(self, chunks: Iterable[np.ndarray | torch.Tensor], window_samples: int,
                    context_samples: int) -> torch.Tensor:
        """Codes [n_codebooks, T] of one long 1-D signal given as consecutive pieces (stream_audio's
        blocks), encoded window by window so that memory is bounded by the window and a piece, not the
        signal: each window of `window_samples` (whole frames) is encoded with `context_samples` of
        the signal on either side, and keeps its own frames. With context at least the codec's
        receptive field the codes equal whole-signal encoding up to float rounding (which can flip a
        near-tie); tests/test_codecs.py measures the agreement."""
        hop = self.hop_length
        window = max(1, window_samples // hop) * hop
        context = -(-context_samples // hop) * hop
        buffer, offset = torch.zeros(0), 0  # buffer[0] is the signal's sample `offset`
        start, pieces = 0, []  # the next window's first sample; the codes so far

        def encode_window(end: int, stop: int) -> None:  # frames [start, end) seen through [lo, stop)
            lo = max(0, start - context)
            codes, _ = self.encode(buffer[lo - offset: stop - offset][None], [stop - lo])
            pieces.append(codes[0, :, (start - lo) // hop: (end - lo) // hop])

        for chunk in chunks:
            buffer = torch.cat([buffer, torch.as_tensor(chunk, dtype=torch.float32).reshape(-1)])
            while offset + buffer.numel() >= start + window + context:  # the window and its right context
                encode_window(start + window, start + window + context)
                start += window
                drop = start - context - offset
                if drop > 0:
                    buffer, offset = buffer[drop:], offset + drop
        padded = self.num_frames(offset + buffer.numel()) * hop  # the signal, padded to whole frames
        buffer = nn.functional.pad(buffer, (0, padded - offset - buffer.numel()))
        while start < padded:
            encode_window(min(padded, start + window), min(padded, start + window + context))
            start += window
        return torch.cat(pieces, dim=1)

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, n_codebooks, T] -> audio [B, T * hop_length] at the codec's sample rate."""
        audio = self._decode(codes.to(self.device)).float().cpu()
        # Some decoders return a few samples less than whole frames; pad so lengths are exact.
        return nn.functional.pad(audio, (0, max(0, codes.shape[-1] * self.hop_length - audio.shape[-1])))[
            :, : codes.shape[-1] * self.hop_length]

    @abc.abstractmethod
    def codebook_vectors(self) -> torch.Tensor:
        """[n_codebooks, codebook_size, D]: what each code adds to the codec's quantized latent.

        The sum over codebooks of the selected rows equals the latent the decoder receives, so an
        input layer initialised from these starts where the codec's own decoder starts.
        """

    @abc.abstractmethod
    def _encode_padded(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [B, T * hop_length] -> codes [B, n_codebooks, T]."""

    @abc.abstractmethod
    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, n_codebooks, T] -> audio [B, >= T * hop_length]."""
