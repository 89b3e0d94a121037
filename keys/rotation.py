"""Re-encrypt every encrypted column under the current key, in batches.

A row is rewritten only when its stored bytes do not already decrypt under the
current key, so an interrupted run simply continues where it stopped.
"""

from collections import defaultdict

from django.db import connections, router, transaction

from keys.crypto import KEY_RING, UndecryptableValue, encrypted_fields

__all__ = ["rotate_all", "UndecryptableValue"]


def _models_with_fields():
    grouped = defaultdict(list)
    for model, field in encrypted_fields():
        grouped[model].append(field)
    return grouped


def _raw_rows(model, fields, pks):
    """The stored ciphertexts, read without decrypting."""
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(pks))
    sql = (
        f"SELECT {quote(model._meta.pk.column)}, {columns} FROM {quote(model._meta.db_table)} "
        f"WHERE {quote(model._meta.pk.column)} IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, pks)
        return cursor.fetchall()


def _audit(model, pk):
    from keys.models import ExchangeKey, KeyEvent

    if model is ExchangeKey:
        owner_id = ExchangeKey.objects.filter(pk=pk).values_list("owner_id", flat=True).first()
        KeyEvent.objects.create(key_id=pk, owner_id=owner_id, kind=KeyEvent.Kind.ROTATED,
                                detail="Stored values re-encrypted under the current encryption key")


def rotate_all(*, batch_size=200, progress=None):
    totals = {}
    for model, fields in _models_with_fields().items():
        label = model._meta.label
        pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
        done = rewritten = 0
        for start in range(0, len(pks), batch_size):
            batch = pks[start:start + batch_size]
            with transaction.atomic(using=router.db_for_write(model)):
                for row in _raw_rows(model, fields, batch):
                    pk, values = row[0], row[1:]
                    changes = {}
                    for field, stored in zip(fields, values):
                        if stored is None:
                            continue
                        stored = bytes(stored)
                        if not KEY_RING.is_current(stored):
                            # Decrypts with a previous key (or raises), re-encrypts on save.
                            changes[field.attname] = field.from_db_value(stored, None, None)
                    if changes:
                        model._default_manager.filter(pk=pk).update(**changes)
                        rewritten += 1
                        _audit(model, pk)
            done += len(batch)
            if progress:
                progress(label, done, len(pks), rewritten)
        totals[label] = {"checked": done, "rewritten": rewritten}
    return totals
