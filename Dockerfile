# claim ledger: the API, the workers and the CLI in one image.
# Build stage: compile wheels (psycopg's binary wheel needs nothing, but others may).
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY workers ./workers
COPY api ./api
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: no compilers, a non-root user, data under /data.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 ledger \
    && mkdir -p /data /keys && chown ledger:ledger /data /keys
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY examples /app/examples
WORKDIR /app
USER ledger
ENV LEDGER_DATA_DIR=/data \
    LEDGER_SIGNING_KEY=/keys/signing.key \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["claimledger", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
