# aharally web image: gunicorn behind your proxy, static files served by whitenoise.
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --create-home --uid 10001 aharally
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY --from=assets /build/node_modules ./node_modules
COPY . .
RUN python manage.py collectstatic --no-input \
    && mkdir -p var && chown -R aharally:aharally var
USER aharally
EXPOSE 8000
# Run `python manage.py migrate` and `python manage.py createcachetable` once per release, and `python manage.py qcluster`
# as a second container from this image for the task cluster.
# gunicorn.conf.py (read from /app) keeps query strings, and so OAuth codes, out of the access log.
CMD ["gunicorn", "aharally.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
