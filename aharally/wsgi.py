import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aharally.settings")
application = get_wsgi_application()

# Refuse to serve without a key rather than fail on the first request.
if not settings.SECRET_KEY:
    raise ImproperlyConfigured("Set the environment variable SECRET_KEY (see .env.example).")
# Secrets at rest need AHARALLY_ENCRYPTION_KEYS in production: say so now, not on first use.
from aharally.integrations.secrets import check_keys  # noqa: E402

check_keys()
