"""`codec2vec extract`: encode a corpus manifest into a unit store, once.

Work is cut into shards of consecutive manifest rows; shard k goes to rank k % world. A shard is
written to a temporary name and renamed, its index entries (shard-NNNNN.json) last, so a killed run
leaves only whole shards: rerunning skips them and does the rest. When every shard is present the
index and header are written (header last) and the store is complete. Ranks are local processes
(`workers`, on CPU) or torchrun processes (multi-GPU, multi-node; gloo or NCCL for the barrier).
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from codec2vec.atomic import atomic_write_text, remove_stale_temporaries
from codec2vec.codecs.base import Codec
from codec2vec.config import config_to_dict, save_config
from codec2vec.data.audio import load_audio, stream_audio
from codec2vec.data.manifest import Manifest, Utterance, read_manifest
from codec2vec.errors import AudioError, Codec2VecError, ConfigError
from codec2vec.memory import reused_heap, release_free_memory
from codec2vec.provenance import provenance
from codec2vec.ranks import process_group, rank_device, torchrun_ranks
from codec2vec.units.store import (PACKINGS, STORE_FORMAT, STORE_VERSION, StoreError, UnitStore, file_sha256,
                                   write_index, write_shard)


@dataclass
class ExtractConfig:
    corpus: str = ""  # a manifest (.jsonl)
    out: str = ""  # the store folder
    codec: str = "default"  # name (codec2vec codec list), hub id or folder
    packing: str = "uint16"  # or "bitpack": ceil(log2(codebook size)) bits per code, lossless
    shard_size: int = 256  # utterances per shard: the unit of resumption
    max_batch_seconds: float = 60.0  # audio per forward pass; longer utterances are encoded in windows of it
    long_context_seconds: float = 2.0  # ... each with this much audio on either side (codec.encode_long)
    device: str = "auto"  # "auto": cuda if available, else cpu
    workers: int = 1  # local processes (CPU); under torchrun each rank is one process
    threads: int = 0  # torch threads per process; 0 = cores / workers
    skip_bad: bool = False  # report unreadable audio in skipped.json instead of stopping
    splits: list[str] = field(default_factory=list)  # encode only these splits of the manifest; [] = all
    compile: str = "auto"  # torch.compile the encoder (same codes): "auto" = when there is enough audio to pay
    #                        for compiling (COMPILE_AFTER_SECONDS), "true", "false"


COMPILE_SETTINGS = ("auto", "true", "false")
COMPILE_AFTER_SECONDS = 600.0  # compiling costs ~10-60 s of CPU; worth it from ~10 min of audio on


def _compile_wanted(setting: str, seconds: float) -> bool:
    return setting == "true" or (setting == "auto" and seconds >= COMPILE_AFTER_SECONDS)


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def selected_rows(manifest: Manifest, splits: list[str]) -> list[Utterance]:
    """The manifest's rows in `splits` (all rows when empty), in manifest order."""
    if not splits:
        return manifest.rows
    present = sorted({row.split for row in manifest.rows})
    unknown = [s for s in splits if s not in present]
    if unknown:
        raise ConfigError(f"{manifest.path}: no split {', '.join(unknown)} (it has {', '.join(present)})")
    return [row for row in manifest.rows if row.split in splits]


def _shards(rows: list[Utterance], size: int) -> list[list[Utterance]]:
    return [rows[i: i + size] for i in range(0, len(rows), size)]


class _ByteCounter(io.RawIOBase):
    """A file that keeps nothing and remembers how far it was written (writers may seek back), for
    the FLAC size of sources that are not FLAC."""

    def __init__(self) -> None:
        self.position = self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.position += len(data)
        self.size = max(self.size, self.position)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position


def _flac_encoder(path: Path, sample_rate: int, counter: _ByteCounter, always: bool = False) -> sf.SoundFile | None:
    """A 16-bit FLAC encoder of the file's mono audio writing into `counter`, to size the source
    audio as FLAC while it is decoded for the codec; None for a FLAC file (its own size counts),
    unless `always` (a segment: only its part of the file counts)."""
    if path.suffix.lower() == ".flac" and not always:
        return None
    return sf.SoundFile(counter, "w", samplerate=sample_rate, channels=1, format="FLAC", subtype="PCM_16")


def length_sorted_batches(lengths: list[int], budget: int, max_spread: float = 1.05) -> list[list[int]]:
    """Indices grouped by length (sorted): each group's padded size (longest x count) within budget,
    and its longest at most `max_spread` x its shortest, so padding is under 1 - 1 / max_spread
    (5 %) of any group. Without that bound a small subset became one batch padded to its longest
    utterance (25-36 % padding in the feature cache, benchmarks/padding.py)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, current = [], []
    for i in order:
        if current and (lengths[i] * (len(current) + 1) > budget or lengths[i] > max_spread * lengths[current[0]]):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _stored(codes: torch.Tensor) -> np.ndarray:
    """Codes [n_codebooks, T] as the store keeps them, [T, n_codebooks] uint16, in an array of their
    own: a shard holds these until it is written, not views of whole int64 batches."""
    return np.ascontiguousarray(codes.T.numpy(), dtype="<u2")


def _encode_batch(codec: Codec, audios: dict[int, torch.Tensor]) -> dict[int, np.ndarray]:
    """Codes [frames, codebooks] of each audio, encoded in one padded forward pass."""
    if not audios:
        return {}
    order = list(audios)
    lengths = [audios[i].numel() for i in order]
    padded = torch.zeros(len(order), max(lengths))
    for row, i in enumerate(order):
        padded[row, : lengths[row]] = audios[i]
    batch_codes, frames = codec.encode(padded, lengths)
    return {i: _stored(batch_codes[row, :, : frames[row]]) for row, i in enumerate(order)}


def encode_shard(codec: Codec, manifest: Manifest, rows: list[Utterance], cfg: ExtractConfig,
                 shard: str, folder: Path) -> dict:
    """Encode `rows` into folder/shard.bin; returns the shard record (entries, stats, skipped).

    Audio is decoded one batch at a time (batches of about max_batch_seconds by the manifest's
    durations), and a file longer than max_batch_seconds is decoded and encoded piece by piece, so
    memory is bounded by a batch, not by the file, the shard or the corpus."""
    max_samples = int(cfg.max_batch_seconds * codec.sample_rate)
    context = int(cfg.long_context_seconds * codec.sample_rate)
    codes: dict[int, np.ndarray] = {}
    stats: dict[int, tuple[float, int, int]] = {}
    skipped: dict[int, dict] = {}
    expected = [max(1, int(row.duration * codec.sample_rate)) for row in rows]
    for batch in length_sorted_batches(expected, max_samples):
        audios = {}
        for i in batch:
            row = rows[i]
            path = manifest.audio_path(row)
            try:
                info = manifest.audio_info(row)
                segment = row.start is not None
                seconds = row.duration if segment else info.duration
                counter = _ByteCounter()
                flac = _flac_encoder(path, info.sample_rate, counter, always=segment)
                native = flac.write if flac is not None else None
                try:
                    if seconds * codec.sample_rate > max_samples:  # streamed and encoded in windows
                        codes[i] = _stored(codec.encode_long(
                            stream_audio(path, codec.sample_rate, row.start, row.end, native=native), max_samples,
                            context))
                    else:
                        audios[i] = torch.from_numpy(load_audio(path, codec.sample_rate, row.start, row.end,
                                                                native=native))
                finally:
                    if flac is not None:
                        flac.close()
                stats[i] = (seconds, 44 + 2 * int(round(seconds * info.sample_rate)),
                            counter.size if flac is not None else path.stat().st_size)
            except AudioError as e:
                if not cfg.skip_bad:
                    raise AudioError(f"utterance '{row.id}': {e} (use --skip-bad to skip such items and list them in skipped.json)") \
                        from None
                skipped[i] = {"id": row.id, "audio": str(path), "error": str(e)}
        codes.update(_encode_batch(codec, audios))
        del audios
        release_free_memory()

    kept = [i for i in range(len(rows)) if i in codes]
    record = write_shard(folder, shard, [(rows[i].id, codes[i]) for i in kept], cfg.packing,
                         codec.info.bits_per_code)
    record.update({
        "audio_seconds": sum(stats[i][0] for i in kept),
        "wav_bytes": sum(stats[i][1] for i in kept),
        "flac_bytes": sum(stats[i][2] for i in kept),
        "skipped": [skipped[i] for i in sorted(skipped)],
    })
    atomic_write_text(folder / f"{shard}.json", json.dumps(record) + "\n")
    return record


def _run_descriptor(cfg: ExtractConfig, codec: Codec, manifest_path: Path) -> dict:
    """What makes two runs the same run: resuming is only allowed when this matches."""
    return {
        "codec": codec.info.to_header(),
        "manifest_sha256": file_sha256(manifest_path),
        "packing": cfg.packing,
        "shard_size": cfg.shard_size,
        "skip_bad": cfg.skip_bad,
        "splits": sorted(cfg.splits),
    }


def _check_or_start_run(out: Path, descriptor: dict) -> None:
    run_file = out / "extract-run.json"
    if run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        if previous != descriptor:
            changed = sorted(k for k in descriptor if previous.get(k) != descriptor[k])
            raise StoreError(f"{out} holds a partial extraction with different {', '.join(changed)}; "
                             "rerun with the original settings, or use a new --out")
    else:
        atomic_write_text(run_file, json.dumps(descriptor, indent=2) + "\n")


def _extract_rank(cfg: ExtractConfig, rank: int, world: int, progress: bool, codec: Codec | None = None) -> None:
    """Encode this rank's unfinished shards; `codec` reuses one the caller already loaded."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    from codec2vec.codecs import load_codec

    out = Path(cfg.out)
    manifest = read_manifest(cfg.corpus, check_files=False)
    device = rank_device(cfg.device)
    codec = codec.to(device) if codec is not None else load_codec(cfg.codec, device=device)
    mine = [(k, rows) for k, rows in enumerate(_shards(selected_rows(manifest, cfg.splits), cfg.shard_size))
            if k % world == rank and not (out / f"{_shard_name(k)}.json").is_file()]
    if _compile_wanted(cfg.compile, sum(row.duration for _, rows in mine for row in rows)):
        codec.compile()
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=sum(len(rows) for _, rows in mine), unit="utt", desc=f"extract {out.name}",
                   file=sys.stderr)
    with reused_heap():
        for k, rows in mine:
            encode_shard(codec, manifest, rows, cfg, _shard_name(k), out)
            if bar is not None:
                bar.update(len(rows))
    if bar is not None:
        bar.close()


def _worker(cfg: ExtractConfig, rank: int, world: int) -> None:
    try:
        _extract_rank(cfg, rank, world, progress=rank == 0)
    except Codec2VecError as e:
        print(f"codec2vec: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


def finalize(cfg: ExtractConfig, codec_header: dict, manifest: Manifest) -> Path:
    """Merge the shard records into index.jsonl and header.json (written last)."""
    out = Path(cfg.out)
    n_shards = len(_shards(selected_rows(manifest, cfg.splits), cfg.shard_size))
    records = []
    for k in range(n_shards):
        path = out / f"{_shard_name(k)}.json"
        if not path.is_file():
            raise StoreError(f"{out}: shard {k} was not written; rerun the same command to finish")
        records.append(json.loads(path.read_text(encoding="utf-8")))
    index = write_index(out, records)
    skipped = [s for r in records for s in r["skipped"]]
    if skipped:
        atomic_write_text(out / "skipped.json", json.dumps(skipped, indent=2) + "\n")
    header = {
        "codec2vec": STORE_FORMAT,
        "version": STORE_VERSION,
        "codec": codec_header,
        "packing": cfg.packing,
        "corpus": {"manifest": str(Path(cfg.corpus)), "manifest_sha256": file_sha256(Path(cfg.corpus)),
                   "name": manifest.header.corpus, "subset": manifest.header.subset,
                   "splits": sorted(cfg.splits)},
        "shards": index["shards"],
        "index_sha256": index["index_sha256"],
        "totals": {
            "utterances": sum(len(r["entries"]) for r in records),
            "frames": sum(e["frames"] for r in records for e in r["entries"]),
            "audio_seconds": round(sum(r["audio_seconds"] for r in records), 3),
            "store_bytes": sum(r["bytes"] for r in records) + index["index_bytes"],
            "codes_bytes": sum(r["bytes"] for r in records),
            "wav_bytes": sum(r["wav_bytes"] for r in records),
            "flac_bytes": sum(r["flac_bytes"] for r in records),
            "skipped": len(skipped),
        },
        "config": config_to_dict(cfg),
        "provenance": provenance(),
    }
    save_config(cfg, out / "config.yaml")
    atomic_write_text(out / "header.json", json.dumps(header, indent=2) + "\n")
    for k in range(n_shards):
        (out / f"{_shard_name(k)}.json").unlink(missing_ok=True)
    (out / "extract-run.json").unlink(missing_ok=True)
    return out


def validate(cfg: ExtractConfig) -> None:
    """Refuse settings extraction cannot run with, naming them."""
    if not cfg.corpus or not cfg.out:
        raise ConfigError("extract needs --corpus MANIFEST and --out STORE")
    if cfg.packing not in PACKINGS:
        raise ConfigError(f"packing must be one of {', '.join(PACKINGS)}, got '{cfg.packing}'")
    cfg.compile = str(cfg.compile).lower()  # a `compile=false` override arrives as YAML's boolean, "False"
    if cfg.compile not in COMPILE_SETTINGS:
        raise ConfigError(f"compile must be one of {', '.join(COMPILE_SETTINGS)}, got '{cfg.compile}'")
    if cfg.shard_size < 1 or cfg.workers < 1 or cfg.max_batch_seconds <= 0:
        raise ConfigError("shard_size and workers must be >= 1 and max_batch_seconds > 0")


def extract(cfg: ExtractConfig, progress: bool = True) -> Path:
    """Run (or finish) an extraction; returns the store folder."""
    from codec2vec.codecs import load_codec

    validate(cfg)
    out = Path(cfg.out)
    manifest_path = Path(cfg.corpus)
    rank, world, _ = torchrun_ranks()
    if (out / "header.json").is_file():
        store = UnitStore(out)
        if store.header["corpus"]["manifest_sha256"] != file_sha256(manifest_path):
            raise StoreError(f"{out} is a finished store of another version of {manifest_path}; use a new --out")
        if store.header["corpus"].get("splits", []) != sorted(cfg.splits):
            raise StoreError(f"{out} is a finished store of the splits {store.header['corpus'].get('splits') or 'all'}"
                             f", not {sorted(cfg.splits) or 'all'}; use a new --out")
        if rank == 0:
            print(f"{out}: already complete ({len(store)} utterances)")
        return out
    manifest = read_manifest(manifest_path, check_files=False)
    if not selected_rows(manifest, cfg.splits):
        raise ConfigError(f"{manifest_path}: no utterances to encode")
    codec = load_codec(cfg.codec)  # before any work: fail early, and the run descriptor needs its hash
    if codec.info.codebook_size > 1 << 16:
        raise ConfigError(f"codec {codec.info.codec_id}: codebooks of {codec.info.codebook_size} codes do not fit "
                          "the store's 16-bit codes")
    codec_header = codec.info.to_header()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
        _check_or_start_run(out, _run_descriptor(cfg, codec, manifest_path))

    if world > 1:  # torchrun: every rank runs this function
        import torch.distributed as dist

        with process_group(rank_device(cfg.device)):
            dist.barrier()
            _extract_rank(cfg, rank, world, progress, codec)
            dist.barrier()
            if rank == 0:
                finalize(cfg, codec_header, manifest)
            dist.barrier()
        return out

    if cfg.workers == 1:
        _extract_rank(cfg, 0, 1, progress, codec)
    else:
        del codec  # each worker process loads its own
        if not cfg.threads:
            cfg.threads = max(1, (os.cpu_count() or 1) // cfg.workers)
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=_worker, args=(cfg, r, cfg.workers)) for r in range(cfg.workers)]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
        failed = [r for r, p in enumerate(processes) if p.exitcode != 0]
        if failed:
            raise Codec2VecError(f"extract: worker(s) {failed} failed (message above); "
                                 "rerun the same command to resume")
    return finalize(cfg, codec_header, manifest)

