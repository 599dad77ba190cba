"""Stage 3: the unit store (codec codes of a corpus on disk) and the extraction that fills it."""

from codec2vec.units.store import StoreError, UnitStore

__all__ = ["StoreError", "UnitStore"]
