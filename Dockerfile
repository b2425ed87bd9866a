# One image for every process of the service; the compose service's `command` picks which:
#   node dist/src/api.js                          the HTTP API (the default)
#   node dist/src/worker.js                       the Temporal worker (loads dist/workflow-bundle.js)
#   node dist/src/cli.js migrate                  apply database migrations
#   node dist/src/cli.js config apply FILE        apply a lab config file
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY surface ./surface
COPY src ./src
COPY activities ./activities
COPY workflows ./workflows
COPY scripts ./scripts
# TypeScript to dist/, the workflow bundle to dist/workflow-bundle.js, then only the production dependencies.
RUN npx tsc -p tsconfig.build.json \
 && npm run build:bundle \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
# curl: the job scripts (scripts/jobs) register scans with the API through it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
# HOST: the API listens on the container's interfaces (what is published is docker's choice); off loopback it
# refuses to start without DET_SECRET (or DET_SECRET=none).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/app/data \
    SUBMIT_SCRIPTS=/app/scripts/jobs
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/scripts ./scripts
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
CMD ["node", "dist/src/api.js"]
