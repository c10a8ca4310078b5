"""System checks: what must be configured before secrets at rest can be kept safely."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


# A deployment check, like SECRET_KEY's: commands that keep no secret (makemigrations,
# collectstatic in the Docker build) run without keys, while the web server (wsgi.py) and the
# task cluster (qcluster) refuse to start without them.
@checks.register(checks.Tags.security, deploy=True)
def encryption_keys(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Production requires AHARALLY_ENCRYPTION_KEYS (valid Fernet keys), not SECRET_KEY."""
    from aharally.integrations.secrets import check_keys

    try:
        check_keys()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="aharally.E001")]
    return []
