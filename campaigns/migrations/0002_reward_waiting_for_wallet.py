from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="sharereward",
            name="waiting_for_wallet",
            field=models.BooleanField(default=False),
        ),
    ]
