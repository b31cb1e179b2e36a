# The smallest Django project that runs migrations against the server the
# libpq environment (PGHOST, PGPORT, PGUSER, ...) names; the database is
# FW_DB.  Run by test/frameworks.sh.
import os

SECRET_KEY = 'ri_policy framework test'
USE_TZ = True
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'

INSTALLED_APPS = ['shop', 'ledger']
if os.environ.get('FW_SHOW_NOTICES'):
    INSTALLED_APPS.append('show_notices')

# HOST, PORT, USER and PASSWORD left empty: libpq takes them from PG*.
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': os.environ.get('FW_DB', 'fw'),
        # the test database (manage.py test) is made from this template
        # when FW_TEST_TEMPLATE is set, else from template1
        'TEST': {'TEMPLATE': os.environ.get('FW_TEST_TEMPLATE')},
    },
}
