# Prints the server's notices and warnings (ri_policy's warn mode among
# them) on standard error as they arrive.  psycopg2 keeps them in
# connection.notices, which nothing in Django prints; it accepts any object
# with an append() method in its place.
import sys

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class StderrNotices:
    def append(self, notice):
        sys.stderr.write(notice)


def show_notices(sender, connection, **kwargs):
    connection.connection.notices = StderrNotices()


class ShowNoticesConfig(AppConfig):
    name = 'show_notices'

    def ready(self):
        connection_created.connect(show_notices)
