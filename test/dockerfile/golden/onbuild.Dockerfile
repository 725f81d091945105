FROM node:20
ONBUILD COPY package.json package-lock.json ./
ONBUILD RUN --mount=type=cache,target=/root/.npm npm ci
ONBUILD   ARG NODE_ENV=production
onbuild env FOO=bar
