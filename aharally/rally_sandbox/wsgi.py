import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "aharally.rally_sandbox.settings"
application = get_wsgi_application()
