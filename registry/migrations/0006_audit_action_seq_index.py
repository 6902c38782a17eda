from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_audit_model_seq_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["action", "seq"], name="audit_action_seq"),
        ),
    ]
