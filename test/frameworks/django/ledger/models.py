# A relation Django knows and the database does not enforce
# (db_constraint=False); migration 0002 declares it to ri_policy.
from django.db import models


class Account(models.Model):
    name = models.TextField()


class Entry(models.Model):
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING,
                                db_constraint=False)
    amount = models.IntegerField()
