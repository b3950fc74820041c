# syntax=docker/dockerfile:1.7
#
# visionbatch: one image for the three services. The role is chosen by the command:
#
#   docker run IMAGE node --import tsx services/api/src/main.ts        # api        :8080
#   docker run IMAGE node --import tsx services/scheduler/src/main.ts  # scheduler  :50051 gRPC, :8081 HTTP
#   docker run IMAGE node --import tsx services/worker/src/main.ts     # worker     :8082 HTTP
#
# Targets:
#   runtime (default)  node:20-bookworm-slim + ffmpeg; CPU inference (onnxruntime-node ships its CPU EP).
#       docker build -t visionbatch:latest .
#   gpu                nvidia/cuda runtime + cuDNN base, Node 20 copied in, and the CUDA execution
#                      provider of onnxruntime-node installed at build time (see the gpu stage).
#       docker build --target gpu -t visionbatch:gpu .
#
# NOTE: neither image has been built in the development environment of this repository (no Docker
# engine there; the gpu stage also needs network access to NVIDIA's registry and to NuGet or npm).
# The Kubernetes manifests and docker-compose.yml are validated offline by test/deploy/.

ARG NODE_IMAGE=node:20-bookworm-slim
# CUDA/cuDNN runtime for the gpu target. Must match the CUDA major version the onnxruntime CUDA
# provider was built against (onnxruntime-node's own installer fetches CUDA 12 builds).
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------------
# deps: production node_modules for every workspace. Native addons come prebuilt from npm (sharp's
# @img/* packages, onnxruntime-node's CPU binaries, msgpackr-extract), so no compiler is needed.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# onnxruntime-node's install script would download CUDA providers from NuGet; skip it here (the repo's
# .npmrc says the same with `onnxruntime-node-install=skip`; the env var is the documented equivalent
# and keeps working once npm stops passing unknown .npmrc keys through).
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json .npmrc ./
COPY packages/shared/package.json packages/shared/
COPY packages/models/package.json packages/models/
COPY packages/engine/package.json packages/engine/
COPY packages/cli/package.json packages/cli/
# The CLI's bin script must exist when npm ci links node_modules/.bin/visionbatch.
COPY packages/cli/bin packages/cli/bin
COPY services/api/package.json services/api/
COPY services/scheduler/package.json services/scheduler/
COPY services/worker/package.json services/worker/
# tsx is a root *dependency* (the services run from TypeScript sources), so --omit=dev keeps it.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

# ---------------------------------------------------------------------------------------------------
# app: the workspace sources on top of the installed dependencies (npm ci linked the workspace
# packages into node_modules/@visionbatch/* as relative symlinks, which resolve once the sources land).
FROM deps AS app
COPY tsconfig.json ./
COPY packages ./packages
COPY services ./services
COPY scripts ./scripts

# ---------------------------------------------------------------------------------------------------
# runtime: the CPU image (api, scheduler and cpu-pool workers).
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=app --chown=node:node /app /app
# Containers bind every interface; the defaults in packages/shared/src/config.ts are loopback-only.
# MALLOC_ARENA_MAX limits glibc heap fragmentation with sharp/libvips in many threads
# (research anchors B5).
ENV NODE_ENV=production \
    VB_API_HOST=0.0.0.0 \
    VB_SCHEDULER_GRPC_HOST=0.0.0.0 \
    VB_DATA_DIR=/data \
    VB_WORKER_POOL=cpu \
    MALLOC_ARENA_MAX=2 \
    ONNXRUNTIME_NODE_INSTALL=skip
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
# The `node` user (uid 1000) of the official image; Kubernetes manifests pin runAsUser 1000.
USER node
EXPOSE 8080 8081 8082 50051
# tini forwards SIGTERM to node, so a worker drains (finishes its running tasks, releases its lease)
# before it exits; see deploy/k8s preStop hooks.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "services/api/src/main.ts"]

# ---------------------------------------------------------------------------------------------------
# gpu-deps: the same node_modules plus the CUDA execution provider of onnxruntime-node.
#
# CANNOT BE BUILT OR TESTED in this repository's development environment (no Docker engine, no
# network route to NuGet, no GPU with Node). Two routes, chosen with --build-arg ORT_CUDA_PROVIDER=...:
#
#   nuget (default)  run onnxruntime-node's own installer with ONNXRUNTIME_NODE_INSTALL=cuda12. It
#                    downloads the CUDA 12 provider libraries matching the installed onnxruntime-node
#                    version from NuGet (needs network access during the build). Pair it with a CUDA 12
#                    CUDA_IMAGE (the default above).
#   npm-package      copy libonnxruntime_providers_{shared,cuda}.so out of an npm-registry package
#                    (ORT_CUDA_NPM_PACKAGE, default the Unity package
#                    com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9, built for ORT 1.29.0 against
#                    CUDA 13). The provider must come from the same ORT release as onnxruntime-node's
#                    core library: set ORT_CUDA_EXPECT_ORT to that release and pin onnxruntime-node to
#                    it in packages/engine/package.json; the build fails when they differ. Use a CUDA
#                    13 CUDA_IMAGE with cuDNN for this route.
#   none             no provider (the gpu worker will then refuse to start: it fails loudly when the
#                    CUDA EP does not load instead of silently running on the CPU).
FROM deps AS gpu-deps
ARG ORT_CUDA_PROVIDER=nuget
ARG ORT_CUDA_NPM_PACKAGE=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
ARG ORT_CUDA_EXPECT_ORT=1.29.0
RUN set -eu; \
    ort_dir="$(node -p 'require("path").dirname(require.resolve("onnxruntime-node/package.json"))')"; \
    ort_version="$(node -p 'require("onnxruntime-node/package.json").version')"; \
    case "$ORT_CUDA_PROVIDER" in \
      nuget) \
        cd "$ort_dir" && ONNXRUNTIME_NODE_INSTALL=cuda12 node ./script/install ;; \
      npm-package) \
        if [ "$ort_version" != "$ORT_CUDA_EXPECT_ORT" ]; then \
          echo "onnxruntime-node is $ort_version but the CUDA provider is built for ORT $ORT_CUDA_EXPECT_ORT" >&2; exit 1; \
        fi; \
        tmp="$(mktemp -d)"; cd "$tmp"; npm pack "$ORT_CUDA_NPM_PACKAGE"; tar -xzf ./*.tgz; \
        dest="$(dirname "$(find "$ort_dir/bin" -path '*linux/x64/onnxruntime_binding.node' | head -n1)")"; \
        find "$tmp" -name 'libonnxruntime_providers_*.so' -exec cp {} "$dest/" \; ; \
        rm -rf "$tmp" ;; \
      none) echo "no CUDA provider installed" ;; \
      *) echo "unknown ORT_CUDA_PROVIDER=$ORT_CUDA_PROVIDER" >&2; exit 1 ;; \
    esac; \
    if [ "$ORT_CUDA_PROVIDER" != none ]; then \
      find "$ort_dir/bin" -name 'libonnxruntime_providers_cuda.so' | grep -q . \
        || { echo "CUDA provider missing after install" >&2; exit 1; }; \
    fi

FROM gpu-deps AS gpu-app
COPY tsconfig.json ./
COPY packages ./packages
COPY services ./services
COPY scripts ./scripts

# ---------------------------------------------------------------------------------------------------
# gpu: gpu-pool workers. Node 20 comes from the official image (a bookworm build of node runs on the
# newer glibc of Ubuntu 24.04); the CUDA and cuDNN libraries come from the base image.
FROM ${NODE_IMAGE} AS node-bin
FROM ${CUDA_IMAGE} AS gpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && (id -u node >/dev/null 2>&1 || useradd --uid 1000 --create-home --shell /usr/sbin/nologin node 2>/dev/null \
     || { userdel -r ubuntu 2>/dev/null; useradd --uid 1000 --create-home --shell /usr/sbin/nologin node; })
COPY --from=node-bin /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=gpu-app --chown=1000:1000 /app /app
ENV NODE_ENV=production \
    VB_API_HOST=0.0.0.0 \
    VB_SCHEDULER_GRPC_HOST=0.0.0.0 \
    VB_DATA_DIR=/data \
    VB_WORKER_POOL=gpu \
    MALLOC_ARENA_MAX=2 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN mkdir -p /data && chown 1000:1000 /data
VOLUME ["/data"]
USER 1000
EXPOSE 8082
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "services/worker/src/main.ts"]
