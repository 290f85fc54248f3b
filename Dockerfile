# veille: the same steps as the README's "Install" section.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VEILLE_DATA_DIR=/data
COPY pyproject.toml README.md ./
COPY veille ./veille
COPY worker ./worker
COPY tasks ./tasks
RUN pip install --no-cache-dir .
VOLUME /data
# default: the whole service (worker + beat); docker-compose.yml runs them as separate services
CMD ["veille", "run"]
