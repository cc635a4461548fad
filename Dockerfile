# recbot as a container: small (slim Python, wheels built in a throwaway stage), not root, `recbot serve`.
# Settings come from the environment (README, "Settings"); /healthz is the health check.
FROM python:3.12-slim AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.12-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/recbot recbot
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'recbot[postgres]' && rm -rf /wheels
USER recbot
WORKDIR /var/lib/recbot
ENV PORT=3000 REC_DATABASE=/var/lib/recbot/recbot.sqlite3 PYTHONUNBUFFERED=1
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2).status != 200)"]
CMD ["recbot", "serve"]
