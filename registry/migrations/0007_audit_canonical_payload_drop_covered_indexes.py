"""Audit payloads are written in the chain's canonical spelling (no schema change: the encoder
lives in Python), and the single-column indexes on ``action`` and ``model_name`` go: the
``(action, seq)`` and ``(model_name, seq)`` indexes serve every query they served.

The indexes are dropped by name as the database reports them, not by ``AlterField``: on
SQLite that would rebuild the table, and a rebuilt table loses the trigger that keeps the
audit log append-only (migration 0002)."""

from django.db import migrations, models

import registry.models

COVERED = ("action", "model_name")


def drop_covered_indexes(apps, schema_editor):
    model = apps.get_model("registry", "AuditEvent")
    table = model._meta.db_table
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    for name, info in constraints.items():
        single = info["columns"] is not None and len(info["columns"]) == 1
        if single and info["index"] and not info["unique"] and info["columns"][0] in COVERED:
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def restore_indexes(apps, schema_editor):
    model = apps.get_model("registry", "AuditEvent")
    for column in COVERED:
        field = model._meta.get_field(column)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(schema_editor._create_like_index_sql(model, field))


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_audit_action_seq_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="action",
                    field=models.CharField(max_length=100),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="model_name",
                    field=models.CharField(blank=True, max_length=100),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="payload",
                    field=models.JSONField(
                        default=dict, encoder=registry.models.CanonicalJSONEncoder
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_covered_indexes, restore_indexes)],
        ),
    ]
