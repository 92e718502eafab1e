FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
# Optional extras beside the production dependencies: docker-compose's demo image
# adds "sandbox" (the emulated X and minter's server); production builds add none.
ARG EXTRAS=""
COPY pyproject.toml ./
RUN pip install --upgrade pip && pip install ".${EXTRAS:+[$EXTRAS]}"
COPY . .
RUN pip install --no-deps -e . \
    && DEBUG=1 STATIC_MANIFEST=1 python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 blockster \
    && mkdir -p /data/sandbox \
    && chown -R blockster /app /data/sandbox
USER blockster

EXPOSE 8000
# Bind, workers, the access log, and which proxies are trusted: gunicorn.conf.py.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "blockster.wsgi:application"]
