# aharally: one image, web or worker by command (scripts/docker-entrypoint):
#   docker run aharally web        gunicorn on $PORT (8000), static files served by whitenoise
#   docker run aharally worker     the django-q2 task cluster (the sync)
#   docker run aharally migrate    once per release, before the new web and workers start
#   docker run aharally metrics    a worker machine's process metrics (docs/operations.md)
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
    && mkdir -p var /var/lib/aharally/metrics \
    && chown -R aharally:aharally var /var/lib/aharally
USER aharally
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["scripts/docker-entrypoint", "healthcheck", "web"]
ENTRYPOINT ["scripts/docker-entrypoint"]
CMD ["web"]
