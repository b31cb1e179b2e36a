# Run by `manage.py test` in the test database Django creates: ri_policy is
# there (from the TEST TEMPLATE, or from template1), so migration 0002 could
# declare the reference, and a test can ask ri_policy about orphans.
from django.db import connection
from django.test import TestCase

from ledger.models import Account, Entry


class DeclaredReferenceTests(TestCase):
    def test_declared_and_checked(self):
        account = Account.objects.create(name='gone')
        Entry.objects.create(account=account, amount=1)
        Account.objects.filter(pk=account.pk).delete()  # DO_NOTHING: an orphan
        with connection.cursor() as cursor:
            cursor.execute("SELECT kind FROM ri_policy.references"
                           " WHERE name = 'ledger_entry_account_id_ref'")
            self.assertEqual(cursor.fetchall(), [('declared',)])
            cursor.execute("SELECT (key->>'account_id')::int, child_rows"
                           " FROM ri_policy.orphans('ledger_entry_account_id_ref')")
            self.assertEqual(cursor.fetchall(), [(account.pk, 1)])
