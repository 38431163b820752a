# A Valgame node. Configure it with VALGAME_* variables (see docs/OPERATIONS.md); in a cluster set
# VALGAME_STORAGE=mongodb://..., VALGAME_BUS=redis://... and one VALGAME_JWT_SECRET shared by every node.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY server ./server
COPY persistence ./persistence
RUN pip install '.[native]' && useradd --system --uid 10001 --home /data valgame && mkdir -p /data && chown valgame /data

USER valgame
ENV VALGAME_HOST=0.0.0.0 VALGAME_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
CMD ["valgame", "serve"]
