"""Unit quality without task labels: phone purity, cluster purity and PNMI against phone alignments.

Phone labels per 50 Hz frame come from the phone times of the synthetic corpus, or, for real
English clips that have only a transcript, from pocketsphinx forced alignment (CMU en-us model,
10 ms frames). Units are scored as HuBERT scores them:
- `kmeans`: k-means (100 clusters) fitted on one hidden state of the upstream over the training
  split of the phone-labelled subset, then applied to held-out utterances; any upstream has them.
- `codec`: the first codebook of the codec units themselves (a unit upstream's input).
- label stores (`codec2vec kmeans` output) and online codebooks are scored by the same function.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from codec2vec.data.manifest import Manifest, Utterance
from codec2vec.data.phones import PHONE_SET, SILENCE
from codec2vec.errors import DependencyError
from codec2vec.eval.metrics import UnitQuality, unit_quality

_NOT_WORD = re.compile(r"[^a-z' ]+")


def frame_phones(phonemes: list[list], n_frames: int, frame_rate: float) -> np.ndarray:
    """The phone at each frame's centre ('sil' where no phone covers it): [n_frames] of str."""
    centres = (np.arange(n_frames) + 0.5) / frame_rate
    out = np.full(n_frames, SILENCE, dtype=object)
    starts = np.array([p[1] for p in phonemes])
    ends = np.array([p[2] for p in phonemes])
    index = np.searchsorted(ends, centres, side="right")
    inside = index < len(phonemes)
    inside[inside] &= starts[index[inside]] <= centres[inside]
    out[inside] = [phonemes[i][0] for i in index[inside]]
    return out


def score_units(phones: list[np.ndarray], units: list[np.ndarray]) -> UnitQuality:
    """Unit quality over utterances: frame-aligned phone labels and unit ids, concatenated."""
    for i, (p, u) in enumerate(zip(phones, units)):
        if len(p) != len(u):
            raise ValueError(f"utterance {i}: {len(p)} phone frames but {len(u)} unit frames")
    return unit_quality(np.concatenate(phones), np.concatenate(units))


class ForcedAligner:
    """pocketsphinx forced alignment of a transcript: [[phone, start_s, end_s], ...] in ARPAbet."""

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise DependencyError("phone alignment of real speech needs pocketsphinx: pip install pocketsphinx "
                                  "(in the 'eval' extra)") from None
        self.decoder = Decoder(samprate=16000, loglevel="FATAL")

    def align(self, audio: np.ndarray, text: str) -> list[list]:
        """Phone times for `text` spoken in `audio` (16 kHz float); raises ValueError if it cannot align."""
        words = " ".join(_NOT_WORD.sub(" ", text.lower()).split())
        if not words:
            raise ValueError("empty transcript")
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        d = self.decoder
        try:
            d.set_align_text(words)
            for _ in range(2):  # a first pass finds the word path, a second the phone times on it
                d.start_utt()
                d.process_raw(pcm, full_utt=True)
                d.end_utt()
                if _ == 0:
                    d.set_alignment()
            phones = [(p.name.lower(), p.start, p.duration) for w in d.get_alignment() for p in w]
        except (RuntimeError, KeyError) as e:
            from pocketsphinx import Decoder

            self.decoder = Decoder(samprate=16000, loglevel="FATAL")  # a failed search can leave it unusable
            raise ValueError(f"pocketsphinx could not align it ({e})") from None
        if not phones:
            raise ValueError("pocketsphinx found no alignment")
        return [[p if p in PHONE_SET else SILENCE, start / 100, (start + duration) / 100]
                for p, start, duration in phones]


def aligned_rows(manifest: Manifest, rows: list[Utterance], log=print) -> tuple[list[Utterance], list[list]]:
    """Rows with phone times: their own, or pocketsphinx alignments of their text; others skipped
    (reported through `log`)."""

    kept, alignments, aligner, skipped = [], [], None, []
    for row in rows:
        if row.phonemes:
            kept.append(row)
            alignments.append(row.phonemes)
            continue
        if not row.text:
            skipped.append((row.id, "no phone times and no transcript"))
            continue
        aligner = aligner or ForcedAligner()
        try:
            alignments.append(aligner.align(manifest.load_audio(row, 16000), row.text))
            kept.append(row)
        except ValueError as e:
            skipped.append((row.id, str(e)))
    if skipped:
        log(f"phone alignment: skipped {len(skipped)} of {len(rows)} utterances of {manifest.path.name}, "
            f"e.g. {skipped[0][0]}: {skipped[0][1]}")
    return kept, alignments


class OnlineCodebookUnits:
    """The units a DinoSR-style (online) run learned to predict: the EMA teacher's top layer,
    instance-normalised, assigned to its nearest codeword. Read from the run's checkpoint.pt (the
    exported model folder keeps only the student)."""

    def __init__(self, run: Path, upstream):
        from codec2vec.integrity import load_checkpoint
        from codec2vec.objectives import OnlineClustering

        state = load_checkpoint(run / "checkpoint.pt")
        objective_cfg = state["config"]["objective"]
        if objective_cfg["name"] != "online":
            raise ValueError(f"{run}: trained with the {objective_cfg['name']} objective, not online clustering")
        self.upstream = upstream
        self.objective = OnlineClustering(upstream.model.encoder, objective_cfg["top_k"], objective_cfg["codebook_size"])
        prefix = "objective."
        self.objective.load_state_dict({k[len(prefix):]: v for k, v in state["model"].items() if k.startswith(prefix)})
        self.objective.to(upstream.device).eval()

    def __call__(self, batch: dict) -> list[np.ndarray]:
        import torch

        with torch.inference_mode(), self.upstream.autocast():
            x, padding = self.upstream.model.features(batch)
            ids = self.objective._targets(x, padding)[..., -1]  # the top layer's codeword per frame
            self.objective.discard_statistics()
        return [ids[i, : int(n)].cpu().numpy() for i, n in enumerate(batch["frames"])]
