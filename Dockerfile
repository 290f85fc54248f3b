# veille: the same steps as the README's "Install" section.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VEILLE_DATA_DIR=/data VEILLE_WEB_LISTEN=0.0.0.0:8080
COPY pyproject.toml README.md ./
COPY veille ./veille
COPY worker ./worker
COPY tasks ./tasks
RUN pip install --no-cache-dir .
VOLUME /data
# the web server (the API, WebSub callbacks); put a reverse proxy with TLS in front of it
EXPOSE 8080
# default: the whole service (worker + beat + web server); docker-compose.yml runs them as separate services
CMD ["veille", "run"]
