from django.db import migrations


def install(apps, schema_editor):
    from social.spend.prices import install_default_prices

    install_default_prices(apps.get_model("social", "XPrice"))


class Migration(migrations.Migration):
    dependencies = [("social", "0003_x_spend_and_sharing_pause")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
