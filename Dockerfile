# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the full dependency set.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/
RUN npm run build

# Runtime stage: production dependencies only, non-root.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
COPY dashboard ./dashboard
# The state file (config/docker.yaml: /app/var/state.json) lives on a volume, so the live
# split, its generation and the audit log outlive the container.
RUN mkdir -p /app/var && chown -R node:node /app/var
VOLUME ["/app/var"]
USER node
# 8080 the proxy; 9090 the admin API, which config/docker.yaml binds to 0.0.0.0 and which
# therefore refuses to start without SWITCHYARD_ADMIN_TOKEN.
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
# switchyard's V8 flags (src/node-flags.ts NODE_FLAGS).
ENTRYPOINT ["node", "--max-semi-space-size=4", "--v8-pool-size=1", "--max-old-space-size=1024", "dist/cli.js"]
CMD ["--config", "config/docker.yaml"]
