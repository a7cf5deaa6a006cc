# model-sync container image: build with scripts/build-image.sh (docs/image.md). Needs BuildKit
# (Docker 23+) or buildah/podman for RUN --mount.
#
# Base: Node 20 on Debian 12 (bookworm) slim, pinned by the digest of its multi-platform index.
# Bump it deliberately; the current digest is shown by
#   skopeo inspect --raw docker://docker.io/library/node:20-bookworm-slim | sha256sum
# Offline builds (scripts/build-image.sh --local-base) pass NODE_IMAGE without the digest and
# provide a locally assembled image under that name.
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# ---- build: all dependencies, compile TypeScript, collect what the runtime needs -------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The optional secret `npm-ca` is a CA bundle for TLS-intercepting proxies; it is mounted for this
# step only and never stored in a layer.
RUN --mount=type=secret,id=npm-ca \
    if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
 && mkdir -p /out \
 && cp -R package.json dist steps /out/ \
 && if [ -d schemas ]; then cp -R schemas /out/; fi \
 && rm -f /out/dist/src/*.map /out/dist/src/*/*.map /out/dist/src/*/*/*.map \
 && chmod 0755 /out/dist/src/cli.js

# ---- prod-deps: production dependencies only ------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /opt/model-sync
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm-ca \
    if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi; \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=unknown
ARG VCS_REF=unknown
ARG BUILD_DATE=unknown
ARG SOURCE_URL=https://github.com/model-sync/model-sync
LABEL org.opencontainers.image.title="model-sync" \
      org.opencontainers.image.description="Moves ML models between S3, HTTP(S), Hugging Face, OCI registries and PVCs, packages KServe modelcars and registers them in Kubeflow Model Registry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"

# Application files belong to root and are read-only for the user that runs the job.
COPY --from=prod-deps /opt/model-sync/node_modules /opt/model-sync/node_modules
COPY --from=build /out/ /opt/model-sync/

# UID 65532 in group 0. Work paths are owned by group 0 and group-writable (setgid keeps new files in
# group 0), so the job also runs under OpenShift's arbitrary UIDs, which always have group 0.
RUN ln -s /opt/model-sync/dist/src/cli.js /usr/local/bin/model-sync \
 && echo 'model-sync:x:65532:0:model-sync:/home/model-sync:/sbin/nologin' >> /etc/passwd \
 && mkdir -p /tmp/model-sync /home/model-sync \
 && chown 65532:0 /tmp/model-sync /home/model-sync \
 && chmod 2775 /tmp/model-sync /home/model-sync

ENV NODE_ENV=production \
    HOME=/home/model-sync
WORKDIR /tmp/model-sync
USER 65532:0
# With no command and no args (the Model Registry UI's Job sets neither) the image runs the whole
# job, configured from MODEL_SYNC_* env; `args: ["fetch", ...]` or `--help` replace CMD.
ENTRYPOINT ["model-sync"]
CMD ["all"]
