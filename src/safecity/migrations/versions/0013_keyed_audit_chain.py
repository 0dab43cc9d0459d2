"""audit log: re-chain existing entries under the audit key (HMAC-SHA256 instead of plain SHA-256)

The key is not in the database, so only `safecity migrate` (which has the configuration) can do this:
it hands the key to Alembic. An empty log (a new database) needs no key. The old chain is verified
before it is re-chained, so an edit made before the upgrade is refused here instead of being sealed.

Revision ID: 0013
Revises: 0012
"""

import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import context, op

import safecity.core.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copies, not imports: a migration must not change when the service does.
GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "purpose",
    "client_addr",
    "district_id",
    "detail",
)
BATCH = 5000
_LOG = sa.table(
    "audit_log",
    sa.column("seq", sa.BigInteger()),
    sa.column("at", safecity.core.db.UTCDateTime()),
    sa.column("actor_id", sa.Uuid()),
    sa.column("actor_name", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("purpose", sa.Text()),
    sa.column("client_addr", sa.String()),
    sa.column("district_id", sa.Uuid()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_HEAD = sa.table(
    "audit_head", sa.column("id", sa.Integer()), sa.column("seq", sa.BigInteger()), sa.column("hash")
)
Seal = Callable[[str, str], str]


def _payload(row: Any) -> str:
    def canonical(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
        if isinstance(value, uuid.UUID):
            return str(value)
        return value

    fields = {name: canonical(getattr(row, name)) for name in HASHED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _plain(prev_hash: str, payload: str) -> str:
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def _keyed(key: bytes) -> Seal:
    return lambda prev_hash, payload: hmac.new(
        key, (prev_hash + payload).encode(), hashlib.sha256
    ).hexdigest()


def _key() -> bytes:
    key = context.config.attributes.get("audit_key")
    if not isinstance(key, bytes):
        raise RuntimeError(
            "the audit log holds entries that must be re-chained with the audit key: "
            "run `safecity migrate`, which has the configuration, instead of Alembic alone"
        )
    return key


def _rechain(old: Seal, new: Seal) -> None:
    """Verify every entry under `old`, then rewrite the chain under `new`, with the append-only guard lifted."""
    bind = op.get_bind()
    head = bind.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).one()
    with _guard_lifted(bind):
        expected, old_prev, new_prev, last = 1, GENESIS_HASH, GENESIS_HASH, 0
        while True:
            rows = bind.execute(
                sa.select(_LOG).where(_LOG.c.seq > last).order_by(_LOG.c.seq).limit(BATCH)
            ).all()
            if not rows:
                break
            for row in rows:
                if (
                    row.seq != expected
                    or row.prev_hash != old_prev
                    or old(old_prev, _payload(row)) != row.hash
                ):
                    raise RuntimeError(
                        f"audit entry {expected} does not verify under the old chain: the log was altered "
                        "before this upgrade; investigate (`safecity audit verify` of the previous release "
                        "shows where) before re-chaining it"
                    )
                sealed = new(new_prev, _payload(row))
                bind.execute(
                    sa.update(_LOG).where(_LOG.c.seq == row.seq).values(prev_hash=new_prev, hash=sealed)
                )
                expected, old_prev, new_prev, last = row.seq + 1, row.hash, sealed, row.seq
        if (last, old_prev) != (head.seq, head.hash):
            raise RuntimeError(
                "the audit log's end does not match its head: it was altered before this upgrade"
            )
        bind.execute(sa.update(_HEAD).where(_HEAD.c.id == 1).values(hash=new_prev))


@contextmanager
def _guard_lifted(bind: sa.Connection) -> Iterator[None]:
    """Lift the append-only triggers for the re-chaining and put the same ones back (a failure rolls back)."""
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        yield
        bind.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")
        return
    triggers = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
    ).all()
    for name, _ in triggers:
        bind.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    for _, sql in triggers:
        bind.exec_driver_sql(sql)


def _has_entries() -> bool:
    return op.get_bind().execute(sa.select(sa.func.count()).select_from(_LOG)).scalar_one() > 0


def upgrade() -> None:
    if _has_entries():
        _rechain(_plain, _keyed(_key()))


def downgrade() -> None:
    if _has_entries():
        _rechain(_keyed(_key()), _plain)
