"""The storage contract's old home: it is :mod:`smshook.storage.contract` now (these names stay
importable from here)."""

from smshook.storage.contract import SECRET_HEADERS, AppendResult, EventQuery, RawRecord, Store

__all__ = ["SECRET_HEADERS", "AppendResult", "EventQuery", "RawRecord", "Store"]
