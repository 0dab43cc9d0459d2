"""The audit chain's key, and signed checkpoints of its head kept outside the database.

Someone who can rewrite the database could otherwise recompute every hash after an edit, or delete the
last entries and rewind the head. So each entry's hash is an HMAC under a key the database does not hold
(derived from `audit.key`, or from `secret_key`), and the head (seq, hash, time) is appended, signed,
to a file the database cannot rewrite: every `checkpoint_every_entries` entries, at the latest
`checkpoint_every_seconds` after a commit, and whenever `verify` finds the chain intact. `verify` then
checks each checkpoint: its signature, and that the entry it names still exists with that hash.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from safecity.config import Settings
from safecity.core.crypto import derive_key
from safecity.core.db import utcnow

logger = logging.getLogger(__name__)

SESSION_INFO_KEY = "safecity.audit.chain"  # where a session finds its chain (sessionmaker info)
CHAIN_PURPOSE = "audit-chain"
CHECKPOINT_PURPOSE = "audit-checkpoint"


def chain_key(settings: Settings) -> bytes:
    """The key entries are hashed with (also what `safecity migrate` re-chains an older log with)."""
    return derive_key(_root(settings), CHAIN_PURPOSE)


def _root(settings: Settings) -> str:
    key = settings.audit.key or settings.secret_key
    return key.get_secret_value()


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain as it was at `at`, read back from line `line` of the checkpoint file."""

    seq: int
    hash: str
    at: dt.datetime
    line: int


@dataclass(frozen=True)
class BadLine:
    """A checkpoint line that cannot be trusted: unreadable, or not signed with our key."""

    line: int
    reason: str


class AuditChain:
    """Hashes entries under the chain key and writes checkpoints; one per process and database."""

    def __init__(
        self,
        *,
        key: bytes,
        checkpoint_key: bytes,
        checkpoint_path: Path,
        every_entries: int = 1000,
        every_seconds: float = 10.0,
    ) -> None:
        self._key = key
        self._checkpoint_key = checkpoint_key
        self.checkpoint_path = checkpoint_path
        self._every_entries = every_entries
        self._every_seconds = every_seconds
        self._lock = threading.Lock()
        self._latest: tuple[int, str] = (0, "")  # the newest committed head this process knows
        self._written = 0  # the seq of the newest checkpoint this process wrote
        self._timer: threading.Timer | None = None
        _LIVE.add(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditChain:
        """The chain as configured: its key, and where and how often checkpoints are written."""
        return cls(
            key=chain_key(settings),
            checkpoint_key=derive_key(_root(settings), CHECKPOINT_PURPOSE),
            checkpoint_path=settings.audit_checkpoint_path,
            every_entries=settings.audit.checkpoint_every_entries,
            every_seconds=settings.audit.checkpoint_every_seconds,
        )

    def session_info(self) -> dict[str, object]:
        """What a session factory carries so that `audit.record` and `audit.verify` find this chain."""
        return {SESSION_INFO_KEY: self}

    def seal(self, prev_hash: str, payload: str) -> str:
        """The hash of an entry: HMAC-SHA256 of the previous hash followed by the entry's canonical JSON."""
        return hmac.new(self._key, (prev_hash + payload).encode(), hashlib.sha256).hexdigest()

    # Checkpoints

    def committed(self, seq: int, hash_: str) -> None:
        """Note a committed head; write a checkpoint if enough entries passed, else within the interval."""
        with self._lock:
            if seq <= self._latest[0]:
                return
            self._latest = (seq, hash_)
            if seq - self._written >= self._every_entries:
                self._write_locked(seq, hash_)
            elif self._timer is None:
                self._timer = threading.Timer(self._every_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the newest committed head now if no checkpoint covers it yet (the timer, and shutdown)."""
        with self._lock:
            self._timer = None
            seq, hash_ = self._latest
            if seq > self._written:
                self._write_locked(seq, hash_)

    def checkpoint(self, seq: int, hash_: str) -> None:
        """Write a checkpoint of a head known to be good (one `verify` has just walked)."""
        with self._lock:
            self._write_locked(seq, hash_)

    def _signature(self, seq: int, hash_: str, at: str) -> str:
        message = json.dumps({"at": at, "hash": hash_, "seq": seq}, sort_keys=True, separators=(",", ":"))
        return hmac.new(self._checkpoint_key, message.encode(), hashlib.sha256).hexdigest()

    def _write_locked(self, seq: int, hash_: str) -> None:
        at = utcnow().isoformat(timespec="microseconds")
        line = {"seq": seq, "hash": hash_, "at": at, "sig": self._signature(seq, hash_, at)}
        try:
            self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            # One short line per write to a file opened for appending: lines of several processes
            # sharing the file never interleave, and fsync makes the line outlive a crash.
            with self.checkpoint_path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            # The entries are committed already; a missed checkpoint weakens `verify`, so say so loudly.
            logger.exception("audit: could not write a checkpoint of entry %d", seq)
            return
        self._written = max(self._written, seq)

    def read_checkpoints(self) -> Iterator[Checkpoint | BadLine]:
        """Every line of the checkpoint file, verified against the checkpoint key (none if no file yet)."""
        try:
            lines = self.checkpoint_path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with lines:
            for number, text in enumerate(lines, start=1):
                yield self._parse(number, text)

    def _parse(self, number: int, text: str) -> Checkpoint | BadLine:
        try:
            data = json.loads(text)
            seq, hash_, at, sig = int(data["seq"]), str(data["hash"]), str(data["at"]), str(data["sig"])
            moment = dt.datetime.fromisoformat(at)
        except (ValueError, KeyError, TypeError):
            return BadLine(number, "it is not a checkpoint (damaged, or written by something else)")
        if not hmac.compare_digest(sig, self._signature(seq, hash_, at)):
            return BadLine(number, "its signature does not match: it was forged or altered")
        return Checkpoint(seq, hash_, moment, number)


# A process that stops (the server, a worker, a command) checkpoints the head it committed last.
_LIVE: weakref.WeakSet[AuditChain] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for chain in list(_LIVE):
        chain.flush()
