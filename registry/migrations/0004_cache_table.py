"""The database cache table that login throttles count in when no GATEHOUSE_CACHE_URL is set."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # Creates the table of every DatabaseCache in CACHES; a no-op when it exists or when the
    # cache is Redis. After pointing GATEHOUSE_CACHE_URL at another table, run
    # `manage.py createcachetable`.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_apitoken_expires_at")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
