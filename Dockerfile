# Cairn's image for the server profile (compose.yaml): the API (`cairn serve`) and the workers (`cairn worker`).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 poppler-utils \
    tesseract-ocr tesseract-ocr-eng libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY core core
COPY ingest ingest
COPY retrieval retrieval
COPY api api
COPY eval eval
COPY workers workers
# The CPU build of torch (constraints pin torch==2.13.0+cpu), then Cairn with every dependency pinned.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -c constraints.txt . \
 && pip install --no-deps unstructured-inference==1.6.14
COPY corpora corpora
RUN useradd --create-home cairn && mkdir -p /data && chown cairn /data
USER cairn
ENV CAIRN_DATA_DIR=/data
EXPOSE 8000
CMD ["cairn", "serve", "--host", "0.0.0.0", "--port", "8000"]
