"""gunicorn's settings (it reads this file from the working directory).

The access log shows the path without its query string (%(U)s, not %(r)s): the OAuth callback's
query carries an authorization code, which must not land in logs.
"""

accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'
