import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "rally_sandbox.settings"
application = get_wsgi_application()

# Outermost: injected faults and concurrency counting (rally_sandbox/faults).
from rally_sandbox.faults.middleware import FaultInjectionMiddleware  # noqa: E402

application = FaultInjectionMiddleware(application)

# Only the server process loads this module: it delivers queued webhooks in the background.
from rally_sandbox.pigeon.worker import start_delivery_thread  # noqa: E402

start_delivery_thread()
