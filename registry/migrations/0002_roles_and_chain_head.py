"""Role groups, the audit chain's head row, and database triggers that keep the audit
log append-only (UPDATE refused everywhere; DELETE refused on PostgreSQL)."""

from django.db import migrations

GENESIS_HASH = "0" * 64
ROLES = ["ml_engineer", "reviewer", "risk_officer", "auditor", "admin"]

PG_FORWARD = """
CREATE OR REPLACE FUNCTION registry_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_auditevent_append_only
    BEFORE UPDATE OR DELETE ON registry_auditevent
    FOR EACH ROW EXECUTE FUNCTION registry_auditevent_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS registry_auditevent_append_only ON registry_auditevent;
DROP FUNCTION IF EXISTS registry_auditevent_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER registry_auditevent_append_only BEFORE UPDATE ON registry_auditevent
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS registry_auditevent_append_only;"


def forward(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    AuditChainHead = apps.get_model("registry", "AuditChainHead")
    AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(forward, backward)]
