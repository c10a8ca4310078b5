"""Re-encrypt every stored secret under the newest key of AHARALLY_ENCRYPTION_KEYS.

Rotation: put a new key first in AHARALLY_ENCRYPTION_KEYS (keep the old ones after it), restart,
run this command, then drop the old keys. Secrets no configured key can read are left as
they are and counted, so that restoring their key can still recover them.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connections, router, transaction

from aharally.integrations.secrets import EncryptedTextField, SecretUnreadable, rotate


def encrypted_fields():
    """(model, [field, …]) for every model that stores an EncryptedTextField."""
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


def rotate_all() -> tuple[int, int]:
    """Re-encrypt every secret under the newest key; returns (rotated, unreadable)."""
    rotated = unreadable = 0
    for model, fields in encrypted_fields():
        alias = router.db_for_write(model)
        connection = connections[alias]
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        pk = quote(model._meta.pk.column)
        # Raw SQL: the ciphertext as stored, without decrypting it into a model instance.
        columns = ", ".join(quote(f.column) for f in fields)
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"SELECT {pk}, {columns} FROM {table}")  # noqa: S608 (names quoted)
            for row in cursor.fetchall():
                for field, ciphertext in zip(fields, row[1:], strict=True):
                    if not ciphertext:
                        continue
                    try:
                        fresh = rotate(ciphertext)
                    except SecretUnreadable:
                        unreadable += 1
                        continue
                    with connection.cursor() as update:
                        update.execute(
                            f"UPDATE {table} SET {quote(field.column)} = %s WHERE {pk} = %s",  # noqa: S608
                            [fresh, row[0]],
                        )
                    rotated += 1
    return rotated, unreadable


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the newest key of AHARALLY_ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        rotated, unreadable = rotate_all()
        self.stdout.write(f"Re-encrypted {rotated} secret(s) under the newest key.")
        if unreadable:
            self.stderr.write(
                f"{unreadable} secret(s) could not be decrypted with any configured key and "
                "were left as they are (their integrations need re-authorization)."
            )
