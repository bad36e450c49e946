# syntax=docker/dockerfile:1
# gatehouse container image: docs/container.md (docker run with _FILE secrets, a read-only root,
# scanning, base-image refresh). Two stages on the same Debian 12 base:
#   build    -dev packages (the Makefile's DEB_BUILD list), the hardened release build, and a
#            check that scripts/runtime-packages.txt is exactly what the binary loads;
#   runtime  debian:12-slim + scripts/runtime-packages.txt (runtime libraries only: no compiler,
#            no curl), the binary, a numeric non-root user and a data volume.
# No secret is ever passed to the build (no ARG or ENV holds one; .dockerignore admits only
# the sources): the master key reaches the container at run time as a file (_FILE).
# Pin the base by digest for reproducible builds: --build-arg DEBIAN=debian:12-slim@sha256:…
ARG DEBIAN=debian:12-slim

FROM ${DEBIAN} AS build
WORKDIR /src
# make first: `make deps` installs the Makefile's DEB_BUILD list (one list for every build).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
COPY Makefile CMakeLists.txt ./
COPY scripts/ scripts/
RUN make deps && rm -rf /var/lib/apt/lists/*
COPY cmake/ cmake/
COPY data/ data/
COPY web/ web/
COPY src/ src/
COPY tests/check_hardening.sh tests/
# The release build (PIE, full RELRO, canaries, FORTIFY: checked), and the runtime list must
# name exactly the packages the binary's libraries come from.
RUN make build BUILD=build \
 && sh tests/check_hardening.sh build/gatehouse \
 && sh scripts/linked-packages.sh --check scripts/runtime-packages.txt build/gatehouse

FROM ${DEBIAN} AS runtime
# Runtime libraries only, from the one list the proof (scripts/container-proof.sh) also installs.
# `apt-get upgrade` takes the security updates published since the base image was built.
RUN --mount=type=bind,source=scripts/runtime-packages.txt,target=/tmp/runtime-packages.txt \
    set -eu; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get upgrade -y; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $(sed 's/#.*//' /tmp/runtime-packages.txt); \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    install -d -o 10001 -g 10001 -m 0700 /var/lib/gatehouse
COPY --from=build --chmod=0755 /src/build/gatehouse /usr/local/bin/gatehouse

# Numeric: Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry.
USER 10001:10001
WORKDIR /var/lib/gatehouse
ENV GATEHOUSE_ENV=production \
    GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_DATA_DIR=/var/lib/gatehouse
# The only writable place (run with --read-only): the SQLite database and its WAL.
VOLUME ["/var/lib/gatehouse"]
EXPOSE 8080
STOPSIGNAL SIGTERM
# No curl in the image: bash (part of the base) speaks HTTP/1.1 to GET /healthz over its
# /dev/tcp redirection and wants a 200. With native TLS (GATEHOUSE_TLS_CERT_PATH) it only checks
# that the port accepts connections. Orchestrators may probe /healthz and /readyz themselves.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${GATEHOUSE_LISTEN##*:} || exit 1; [ -n \"${GATEHOUSE_TLS_CERT_PATH:-}\" ] && exit 0; printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3; read -r -t 4 proto code rest <&3; [ \"$code\" = 200 ]"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
