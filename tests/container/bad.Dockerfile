# PLANTED for tests/container/check_dockerfile.sh --self-test: breaks every rule. Never build.
FROM ubuntu:latest
ENV GATEHOUSE_MASTER_KEY=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=
COPY . /src
COPY master.key /etc/gatehouse/master.key
RUN apt-get update && apt-get install -y build-essential libsodium-dev curl
USER root
ENTRYPOINT /src/build/gatehouse serve
