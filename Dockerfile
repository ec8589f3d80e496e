# autoconfig: the wheel is built in a first stage, then installed alone in a slim image that runs as a
# non-root user. Settings: mount them at /etc/autoconfig/settings.toml and name them with
# -e AUTOCONFIG_SETTINGS=/etc/autoconfig/settings.toml; without, the image serves the bundled Académie
# de Paris settings (signed with a development certificate kept in /var/lib/autoconfig).
# Mounted files must be readable by group 10001: owned by root, group 10001, keys 0640, folders 0750.
# The base: any image with Python 3.11 or newer and pip (the tests build on a local Debian bookworm).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY autoconfig ./autoconfig
COPY templates ./templates
COPY profiles ./profiles
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM ${BASE_IMAGE}
# The group by number too: useradd alone would give the user a group of another number than the 10001
# that USER runs as and that mounted settings are made readable to.
RUN groupadd --system --gid 10001 autoconfig \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin \
        autoconfig \
    && mkdir -p /etc/autoconfig /var/lib/autoconfig \
    && chown 10001:10001 /var/lib/autoconfig
COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist
ENV AUTOCONFIG_STATE_DIR=/var/lib/autoconfig \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080
# The slim image has no curl: the service asks itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["autoconfig", "healthcheck", "--port", "8080"]
# The entry point reads AUTOCONFIG_SETTINGS when it is set (docker run -e AUTOCONFIG_SETTINGS=...).
ENTRYPOINT ["autoconfig", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--workers", "2"]
