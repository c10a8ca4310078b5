"""gunicorn's settings (it reads this file from the working directory).

The access log shows the path without its query string (%(U)s, not %(r)s): the OAuth callback's
query carries an authorization code, which must not land in logs. The path itself is masked
where it carries a credential (the webhook URL's secret). LOG_FORMAT=json makes gunicorn's own
lines JSON too, like the application's.
"""

import os
import sys

from gunicorn.glogging import Logger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# (imported once the path is set)
from aharally.logfilters import redact_credentials

accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'


class RedactingLogger(Logger):
    """Access-log atoms with credential-shaped parts of the path masked."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact_credentials(atoms["U"])
        return atoms


logger_class = RedactingLogger

if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": True,
            }
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
