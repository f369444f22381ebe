# ivr: the voice IVR server. Models ship inside the Python packages, so the image needs no network
# at run time. Build: docker build -t ivr .   Run: docker run -e TWILIO_AUTH_TOKEN=... \
#   -e IVR_PUBLIC_URL=https://ivr.example.com -p 5000:5000 ivr
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IVR_DIALPLAN=/app/dialplans/shop.yaml \
    IVR_PROMPT_CACHE=/app/voices/cache \
    HF_HUB_OFFLINE=1

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY ivr ./ivr
RUN pip install . && useradd --system --uid 10001 ivr
COPY dialplans ./dialplans
COPY voices ./voices
RUN mkdir -p /app/voices/cache /app/records && chown -R ivr /app/voices/cache /app/records \
    && ivr check /app/dialplans/*.yaml

# Call records database (SQLite by default; set IVR_DB_URL for PostgreSQL) and its spool, and
# the model caches (calibration fits, the ASR-noised examples the server speaks in the
# background after its first start): the system user has no home directory to keep them in.
# Mount /app/data as a volume so a restarted container keeps both.
RUN mkdir -p /app/data/cache && chown -R ivr /app/data
ENV IVR_DB_URL=sqlite:////app/data/calls.db \
    IVR_CACHE_DIR=/app/data/cache

USER ivr
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/healthz')"
# `ivr serve` runs gunicorn (gthread worker: one thread per live call's WebSocket).
CMD ["ivr", "serve", "--host", "0.0.0.0", "--port", "5000"]
