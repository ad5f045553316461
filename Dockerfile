# ops-postmortem: `postmortem` as the entrypoint, for scheduled `sync` runs (see deploy/kubernetes/cronjob.yaml).
#   docker build -t ops-postmortem .
#   docker run --rm -e GITHUB_TOKEN -v "$PWD:/data" ops-postmortem --config /data/postmortem.toml sync
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ops_postmortem ./ops_postmortem
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin postmortem \
    && mkdir /data \
    && chown postmortem:postmortem /data
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /data
ENTRYPOINT ["postmortem"]
CMD ["--help"]
