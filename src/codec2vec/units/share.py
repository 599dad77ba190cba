"""`codec2vec units export|import`: a unit store as webdataset tar shards or parquet files, the
forms Hub datasets and streaming loaders read, and back.

An export folder holds the shards and `metadata.json` (this format's name, the store's own header:
codec id, weights hash, rates, packing, corpus). Each utterance is its id, its frame count and its
codes [codebooks, frames] as uint16:
- webdataset: `units-NNNNNN.tar`, members `<key>.codes.npy` (numpy's format) and `<key>.json`
  (`{"id", "frames"}`); keys are running numbers, because webdataset splits keys at dots;
- parquet: `units-NNNNNN.parquet`, columns `id`, `frames`, `codes` (the uint16 array's
  little-endian bytes, row-major), and the store header in the file's key-value metadata too
  (`codec2vec`), so a parquet file alone still says which codec made it. Needs pyarrow.
Importing writes an ordinary, verifiable store (same codes, same packing) whose header keeps the
original's and says where it was imported from.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.codecs.base import CodecInfo
from codec2vec.errors import DependencyError
from codec2vec.provenance import provenance
from codec2vec.units.store import STORE_FORMAT, StoreError, UnitStore, write_index, write_shard

SHARE_FORMAT = "codec2vec-units-share"
FORMATS = ("webdataset", "parquet")
IMPORT_SHARD_SIZE = 256  # utterances per store shard, as extraction writes them


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise DependencyError("parquet needs pyarrow: pip install pyarrow (or the 'share' extra)") from None
    return pyarrow


def export_store(store_path: str | Path, out: str | Path, fmt: str, shard_size: int = 10_000) -> Path:
    """Write the store as `fmt` shards of `shard_size` utterances into `out`; returns `out`."""
    if fmt not in FORMATS:
        raise StoreError(f"format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    store = UnitStore(store_path)
    if store.kind != STORE_FORMAT:
        raise StoreError(f"{store.path} is a label store; export unit stores")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shards = []
    for k in range(0, len(store), shard_size):
        ids = store.ids[k: k + shard_size]
        name = f"units-{k // shard_size:06d}.{'tar' if fmt == 'webdataset' else 'parquet'}"
        with atomic_path(out / name) as tmp:
            (_write_tar if fmt == "webdataset" else _write_parquet)(tmp, store, ids, k)
        shards.append({"name": name, "utterances": len(ids)})
    metadata = {"codec2vec": SHARE_FORMAT, "version": 1, "format": fmt, "store_header": store.header,
                "shards": shards, "utterances": len(store)}
    atomic_write_text(out / "metadata.json", json.dumps(metadata, indent=2) + "\n")  # last: marks it complete
    return out


def _write_tar(path: Path, store: UnitStore, ids: list[str], first: int) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for n, utterance_id in enumerate(ids, start=first):
            codes = np.ascontiguousarray(store[utterance_id])
            buffer = io.BytesIO()
            np.save(buffer, codes)
            members = {f"{n:09d}.codes.npy": buffer.getvalue(),
                       f"{n:09d}.json": json.dumps({"id": utterance_id, "frames": int(codes.shape[1])}).encode()}
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size, info.mtime, info.mode = len(data), 0, 0o644  # reproducible bytes
                tar.addfile(info, io.BytesIO(data))


def _write_parquet(path: Path, store: UnitStore, ids: list[str], first: int) -> None:
    pa = _pyarrow()
    codes = [np.ascontiguousarray(store[i]).astype("<u2") for i in ids]
    table = pa.table({"id": ids, "frames": [int(c.shape[1]) for c in codes], "codes": [c.tobytes() for c in codes]})
    table = table.replace_schema_metadata({"codec2vec": json.dumps(store.header)})
    pa.parquet.write_table(table, path)


def _read_tar(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    with tarfile.open(path) as tar:
        pending: dict[str, dict] = {}
        for member in tar:
            key, _, kind = member.name.partition(".")
            data = tar.extractfile(member).read()
            entry = pending.setdefault(key, {})
            entry[kind] = data
            if "codes.npy" in entry and "json" in entry:
                meta = json.loads(entry["json"])
                yield meta["id"], np.load(io.BytesIO(entry["codes.npy"]), allow_pickle=False)
                del pending[key]
        if pending:
            raise StoreError(f"{path}: key(s) {sorted(pending)[:3]} lack their codes or json member")


def _read_parquet(path: Path, n_codebooks: int) -> Iterator[tuple[str, np.ndarray]]:
    table = _pyarrow().parquet.read_table(path)
    for utterance_id, frames, data in zip(*(table.column(c).to_pylist() for c in ("id", "frames", "codes"))):
        yield utterance_id, np.frombuffer(data, dtype="<u2").reshape(n_codebooks, frames)


def import_store(src: str | Path, out: str | Path) -> Path:
    """Write the store of an export folder `src` into `out`; returns `out`."""
    src, out = Path(src), Path(out)
    meta_path = src / "metadata.json"
    if not meta_path.is_file():
        raise StoreError(f"{src}: no metadata.json; not a `codec2vec units export` folder")
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    if metadata.get("codec2vec") != SHARE_FORMAT or metadata.get("format") not in FORMATS:
        raise StoreError(f"{meta_path}: not a codec2vec units export")
    header = metadata["store_header"]
    info = CodecInfo.from_header(header["codec"])
    n_codebooks, bits = info.n_codebooks, info.bits_per_code
    out.mkdir(parents=True, exist_ok=True)
    records, batch, seen = [], [], 0

    def flush() -> None:
        records.append(write_shard(out, f"shard-{len(records):05d}", batch, header["packing"], bits))
        batch.clear()

    for shard in metadata["shards"]:
        path = src / shard["name"]
        if not path.is_file():
            raise StoreError(f"{path}: missing shard of the export")
        items = _read_tar(path) if metadata["format"] == "webdataset" else _read_parquet(path, n_codebooks)
        for utterance_id, codes in items:
            if codes.ndim != 2 or codes.shape[0] != n_codebooks:
                raise StoreError(f"{path}: utterance '{utterance_id}' has codes {codes.shape}, "
                                 f"expected [{n_codebooks}, frames]")
            batch.append((utterance_id, np.ascontiguousarray(codes.T.astype(np.uint16))))
            seen += 1
            if len(batch) == IMPORT_SHARD_SIZE:
                flush()
    if batch:
        flush()
    if seen != metadata["utterances"]:
        raise StoreError(f"{src}: {seen} utterances in the shards, metadata.json says {metadata['utterances']}")
    index = write_index(out, records)
    codes_bytes = sum(r["bytes"] for r in records)
    imported = {**header, "shards": index["shards"], "index_sha256": index["index_sha256"],
                "totals": {**header["totals"], "store_bytes": codes_bytes + index["index_bytes"],
                           "codes_bytes": codes_bytes},
                "imported": {"from": str(src), "format": metadata["format"], "provenance": provenance()}}
    atomic_write_text(out / "header.json", json.dumps(imported, indent=2) + "\n")
    return out
