"""The unit store: codec codes of a corpus on disk, compact and randomly accessible.

Layout of a store folder (docs/formats.md):
  header.json        what the codes are (codec id, weights hash, rates, codebooks), packing, the
                     corpus manifest they came from, totals, config, provenance, shard checksums
  index.jsonl        one line per utterance: id, shard, byte offset, byte length, frames, crc32
  shard-NNNNN.bin    the codes of consecutive utterances, each [frames, n_codebooks] frame-major,
                     as little-endian uint16 or bit-packed at ceil(log2(codebook size)) bits

Reading memory-maps the shards: `store[id]` touches only that utterance's bytes.

A label store (k-means cluster ids, `codec2vec kmeans`) has the same layout with one stream per
frame; its header says "labels" and keeps the codec section of the units it labels, so inputs and
targets are checked to lie on the same frame grid.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec2vec.atomic import atomic_path
from codec2vec.codecs.base import CodecInfo
from codec2vec.errors import Codec2VecError
from codec2vec.integrity import file_sha256  # noqa: F401 (part of this module's interface)

STORE_FORMAT = "units"
LABELS_FORMAT = "labels"
STORE_VERSION = 1
PACKINGS = ("uint16", "bitpack")


class StoreError(Codec2VecError):
    """A unit store is missing, damaged, or does not match what it is used with."""

    exit_code = 6


def pack_codes(codes: np.ndarray, packing: str, bits: int) -> bytes:
    """codes [frames, n_codebooks] -> bytes. 'bitpack' stores each code in `bits` bits (lossless)."""
    flat = np.ascontiguousarray(codes, dtype="<u2").reshape(-1)
    if packing == "uint16":
        return flat.tobytes()
    if packing == "bitpack":
        bit_matrix = np.unpackbits(flat.astype(">u2").view(np.uint8).reshape(-1, 2), axis=1)[:, 16 - bits:]
        return np.packbits(bit_matrix.reshape(-1)).tobytes()
    raise ValueError(f"unknown packing '{packing}' (known: {', '.join(PACKINGS)})")


def unpack_codes(buffer, frames: int, n_codebooks: int, packing: str, bits: int) -> np.ndarray:
    """Inverse of pack_codes: bytes -> uint16 [frames, n_codebooks]."""
    count = frames * n_codebooks
    if packing == "uint16":
        return np.frombuffer(buffer, dtype="<u2", count=count).reshape(frames, n_codebooks)
    bit_matrix = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8))[: count * bits].reshape(count, bits)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint16)
    return (bit_matrix.astype(np.uint16) @ weights).astype(np.uint16).reshape(frames, n_codebooks)


def packed_size(frames: int, n_codebooks: int, packing: str, bits: int) -> int:
    count = frames * n_codebooks
    return 2 * count if packing == "uint16" else (count * bits + 7) // 8


@dataclass(frozen=True)
class Entry:
    id: str
    shard: str
    offset: int
    nbytes: int
    frames: int
    crc32: int

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "shard": self.shard, "offset": self.offset, "nbytes": self.nbytes,
                           "frames": self.frames, "crc32": self.crc32}, separators=(",", ":"))


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def write_shard(folder: Path, shard: str, items: list[tuple[str, np.ndarray]], packing: str, bits: int) -> dict:
    """Write items (id, codes [frames, streams]) into folder/shard.bin atomically; returns its record."""
    entries, offset = [], 0
    with atomic_path(folder / f"{shard}.bin") as tmp, open(tmp, "wb") as f:
        for utterance_id, codes in items:
            data = pack_codes(codes, packing, bits)
            f.write(data)
            entries.append(Entry(utterance_id, f"{shard}.bin", offset, len(data), codes.shape[0], crc32(data)))
            offset += len(data)
    return {"shard": f"{shard}.bin", "sha256": file_sha256(folder / f"{shard}.bin"), "bytes": offset,
            "entries": [json.loads(e.to_json()) for e in entries]}


def write_index(folder: Path, records: list[dict]) -> dict:
    """Write index.jsonl from shard records; returns the header fields that describe the shards."""
    with atomic_path(folder / "index.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            for entry in record["entries"]:
                f.write(Entry(**entry).to_json() + "\n")
    return {
        "shards": [{"name": r["shard"], "sha256": r["sha256"], "bytes": r["bytes"],
                    "utterances": len(r["entries"])} for r in records],
        "index_sha256": file_sha256(folder / "index.jsonl"),
        "index_bytes": (folder / "index.jsonl").stat().st_size,
    }


class UnitStore:
    """Read-only access to a finished store: `store[id]` -> codes [streams, frames] (uint16).

    Streams are the codec's codebooks in a unit store, one cluster id in a label store.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        header_path = self.path / "header.json"
        if not header_path.is_file():
            if (self.path / "extract-run.json").is_file():
                raise StoreError(f"{self.path}: extraction has not finished (no header.json); "
                                 "rerun the same `codec2vec extract` command to complete it")
            raise StoreError(f"{self.path}: not a unit store (no header.json)")
        try:
            self.header = json.loads(header_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise StoreError(f"{header_path}: unreadable header ({e})") from None
        self.kind = self.header.get("codec2vec")
        if self.kind not in (STORE_FORMAT, LABELS_FORMAT):
            raise StoreError(f"{header_path}: not a unit or label store header")
        if self.header.get("version") != STORE_VERSION:
            raise StoreError(f"{header_path}: store format version {self.header.get('version')} "
                             f"is not supported (this codec2vec reads version {STORE_VERSION})")
        self.info = CodecInfo.from_header(self.header["codec"])
        self.packing = self.header["packing"]
        if self.kind == LABELS_FORMAT:  # one cluster id per frame
            self.n_streams, self.vocab_size = 1, int(self.header["labels"]["n_clusters"])
        else:
            self.n_streams, self.vocab_size = self.info.n_codebooks, self.info.codebook_size
        self.bits = max(1, math.ceil(math.log2(self.vocab_size)))
        self.entries: dict[str, Entry] = {}
        self.ids: list[str] = []
        with open(self.path / "index.jsonl", encoding="utf-8") as f:
            for line_number, line in enumerate(f, 1):
                try:
                    entry = Entry(**json.loads(line))
                except (ValueError, TypeError) as e:
                    raise StoreError(f"{self.path / 'index.jsonl'} line {line_number}: bad index entry ({e})") from None
                if entry.id in self.entries:
                    raise StoreError(f"{self.path / 'index.jsonl'}: utterance '{entry.id}' appears twice")
                self.entries[entry.id] = entry
                self.ids.append(entry.id)
        self._maps: dict[str, np.memmap] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, utterance_id: str) -> bool:
        return utterance_id in self.entries

    def frames(self, utterance_id: str) -> int:
        return self._entry(utterance_id).frames

    def _entry(self, utterance_id: str) -> Entry:
        try:
            return self.entries[utterance_id]
        except KeyError:
            raise StoreError(f"{self.path}: no utterance '{utterance_id}' in this store") from None

    def _map(self, shard: str) -> np.memmap:
        if shard not in self._maps:
            path = self.path / shard
            if not path.is_file():
                raise StoreError(f"{path}: shard missing; `codec2vec verify {self.path}` checks the whole store")
            self._maps[shard] = np.memmap(path, dtype=np.uint8, mode="r")
        return self._maps[shard]

    def raw(self, utterance_id: str) -> bytes:
        entry = self._entry(utterance_id)
        data = self._map(entry.shard)[entry.offset: entry.offset + entry.nbytes]
        if data.size != entry.nbytes:
            raise StoreError(f"{self.path / entry.shard}: truncated; utterance '{utterance_id}' ends past the file")
        return data

    def __getitem__(self, utterance_id: str) -> np.ndarray:
        entry = self._entry(utterance_id)
        codes = unpack_codes(self.raw(utterance_id), entry.frames, self.n_streams, self.packing, self.bits)
        return codes.T

    def require_codec(self, info: CodecInfo, what: str) -> None:
        """Refuse to mix these codes with `what`, made for another codec or at other rates."""
        from codec2vec.codecs.registry import renamed_hint

        diff = self.info.differences(info, "store", "")
        if diff:
            raise StoreError(f"{self.path} does not match {what}: " + "; ".join(diff)
                             + renamed_hint(self.info.codec_id, self.info.weights_hash))

    def codebook_vectors(self, purpose: str, codec_source: str = ""):
        """[n_codebooks, codebook_size, D] (float32, CPU) of the codec that made these codes, loaded
        by its id (or from `codec_source`, where it has moved) and refused unless it has the very
        weights (hash) that made them."""
        from codec2vec.codecs import load_codec
        from codec2vec.codecs.registry import CodecError

        source = codec_source or self.info.codec_id
        try:
            codec = load_codec(source)
        except CodecError as e:
            raise StoreError(f"{self.path}: the codec that made these units cannot be loaded {purpose}: {e}. "
                             "If its folder has moved, give its new place (pretrain: data.codec=DIR, "
                             "kmeans: codec=DIR); its weights are checked against the store's hash") from None
        self.require_codec(codec.info, f"codec '{source}' as loaded here ({purpose})")
        return codec.codebook_vectors().detach().float().cpu()

    def describe(self) -> str:
        h = self.header
        t = h["totals"]
        c = self.info
        if self.kind == LABELS_FORMAT:
            labels = h["labels"]
            used = sum(1 for n in labels["histogram"] if n > 0)
            return "\n".join([
                f"{self.path}: label store (k-means cluster ids, format {LABELS_FORMAT} v{h['version']})",
                f"  {labels['n_clusters']} clusters ({used} used) of {labels['features']}"
                + (f" of {labels['model']}" if labels.get("model") else ""),
                f"  fitted on {labels['fit_frames']} frames; inertia per frame {labels['inertia_per_frame']:.4g}",
                f"  labels the units of {h['units']['path']} (codec {c.codec_id}, {c.frame_rate} frames/s)",
                f"  {t['utterances']} utterances, {t['frames']} frames, {len(h['shards'])} shards",
            ])
        lines = [
            f"{self.path}: unit store (format {STORE_FORMAT} v{h['version']})",
            f"  codec: {c.codec_id} ({c.architecture}), weights sha256 {c.weights_hash[:16]}...",
            f"  {c.sample_rate} Hz, {c.frame_rate} frames/s, {c.n_codebooks} codebooks x {c.codebook_size}, "
            f"{c.bitrate / 1000:g} kbit/s raw",
            f"  packing: {self.packing} ({16 if self.packing == 'uint16' else self.bits} bits per code)",
            f"  corpus: {h['corpus']['manifest']} ({h['corpus'].get('name')}/{h['corpus'].get('subset')})",
            f"  {t['utterances']} utterances, {t['frames']} frames, {t['audio_seconds'] / 3600:.3f} h of audio, "
            f"{len(h['shards'])} shards",
        ]
        if t.get("skipped"):
            lines.append(f"  skipped: {t['skipped']} unreadable files (skipped.json)")
        lines.extend("  " + line for line in storage_report(h).splitlines())
        return "\n".join(lines)


def storage_report(header: dict) -> str:
    """Bytes per hour of audio of the store against the same audio as 16-bit WAV and as FLAC."""
    t = header["totals"]
    hours = t["audio_seconds"] / 3600
    if hours <= 0:
        return "storage: no audio"
    store = t["store_bytes"]
    rows = [("units (this store)", store), ("16-bit WAV", t["wav_bytes"]), ("FLAC", t["flac_bytes"])]
    lines = ["storage per hour of audio:"]
    for name, size in rows:
        ratio = "" if size == store else f"  ({size / store:.1f}x the store)"
        lines.append(f"  {name:<19} {size / hours / 1e6:10.2f} MB/h{ratio}")
    return "\n".join(lines)
