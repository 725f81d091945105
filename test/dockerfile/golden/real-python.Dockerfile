FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=off

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        build-essential \
        libpq-dev \
    ; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY <<EOF /app/gunicorn.conf.py
bind = "0.0.0.0:${PORT:-8000}"
workers = 2
EOF
COPY . .
LABEL org.opencontainers.image.source="https://example.com/app" \
      org.opencontainers.image.licenses="MIT"
CMD ["gunicorn", "app:app"]
