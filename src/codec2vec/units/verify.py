"""`codec2vec verify STORE`: check every byte of a unit or label store and name what is wrong."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from codec2vec.units.store import StoreError, UnitStore, crc32, file_sha256, packed_size, unpack_codes


def verify_store(path: str | Path) -> list[str]:
    """Return the problems found (empty when the store is whole). Reads the entire store once."""
    try:
        store = UnitStore(path)
    except StoreError as e:
        return [str(e)]
    root = store.path
    problems: list[str] = []
    header = store.header
    if file_sha256(root / "index.jsonl") != header.get("index_sha256"):
        problems.append(f"{root / 'index.jsonl'}: checksum differs from header.json (index edited or damaged)")
    by_shard: dict[str, list] = defaultdict(list)
    for entry in store.entries.values():
        by_shard[entry.shard].append(entry)
    recorded = {s["name"]: s for s in header["shards"]}
    for name in sorted(set(by_shard) - set(recorded)):
        problems.append(f"index.jsonl names shard {name}, which header.json does not list")
    n_codebooks, bits = store.n_streams, store.bits
    for name, shard in sorted(recorded.items()):
        file = root / name
        if not file.is_file():
            problems.append(f"{file}: missing ({len(by_shard[name])} utterances lost)")
            continue
        size = file.stat().st_size
        if size != shard["bytes"]:
            problems.append(f"{file}: {size} bytes, header.json records {shard['bytes']} (truncated or appended)")
        if file_sha256(file) != shard["sha256"]:
            problems.append(f"{file}: sha256 differs from header.json")
        entries = sorted(by_shard[name], key=lambda e: e.offset)
        expected_offset = 0
        for entry in entries:
            if entry.offset != expected_offset:
                problems.append(f"{name}: utterance '{entry.id}' starts at byte {entry.offset}, "
                                f"expected {expected_offset} (gap or overlap in index)")
            expected_offset = entry.offset + entry.nbytes
            if entry.nbytes != packed_size(entry.frames, n_codebooks, store.packing, bits):
                problems.append(f"{name}: utterance '{entry.id}' has {entry.nbytes} bytes for {entry.frames} frames")
                continue
            if entry.offset + entry.nbytes > size:
                problems.append(f"{name}: utterance '{entry.id}' lies past the end of the file (truncated shard)")
                continue
            data = store.raw(entry.id)
            if crc32(bytes(data)) != entry.crc32:
                problems.append(f"{name}: utterance '{entry.id}' bytes differ from their crc32 (damaged)")
                continue
            codes = unpack_codes(data, entry.frames, n_codebooks, store.packing, bits)
            if codes.size and int(codes.max()) >= store.vocab_size:
                problems.append(f"{name}: utterance '{entry.id}' holds code {int(codes.max())} "
                                f">= {store.vocab_size} (codebook size or cluster count)")
    totals = header["totals"]
    if totals["utterances"] != len(store):
        problems.append(f"header.json counts {totals['utterances']} utterances, index.jsonl has {len(store)}")
    frames = sum(e.frames for e in store.entries.values())
    if totals["frames"] != frames:
        problems.append(f"header.json counts {totals['frames']} frames, index.jsonl sums to {frames}")
    return problems
