# Written by hand: declare to ri_policy the relation that 0001 left
# unenforced (db_constraint=False), so that ri_policy.validate() checks it.
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0001_initial'),
    ]

    operations = [
        migrations.RunSQL(
            sql="SELECT ri_policy.declare_reference('ledger_entry', '{account_id}', 'ledger_account')",
            reverse_sql="SELECT ri_policy.drop_reference('ledger_entry.ledger_entry_account_id_ref')",
        ),
    ]
