# autoconfig: build the wheel, then install it alone in a slim image that runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY autoconfig ./autoconfig
COPY templates ./templates
COPY profiles ./profiles
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin autoconfig
COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist
USER autoconfig
EXPOSE 8080
# Mount your settings (e.g. at /etc/autoconfig/settings.toml) and set AUTOCONFIG_SETTINGS to that
# path; without it the image serves the bundled Académie de Paris settings.
ENTRYPOINT ["autoconfig", "serve", "--host", "0.0.0.0", "--port", "8080"]
