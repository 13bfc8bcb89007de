#!/usr/bin/env bash
# Builds the Opsledger OCI image (`npm run image`) from Debian's packages and npm alone:
#   1. a Debian bookworm root file system made by mmdebstrap (deploy/image/rootfs.sh), imported as
#      the base image; cached by the hash of its recipe, so it is made once;
#   2. a build context of Node.js 24 (the binary of the `node` package this project installs), the
#      compiled server (dist), the built UI (web/dist), the migrations and production dependencies;
#   3. the Containerfile over both.
# Options:
#   --base IMAGE   build FROM an official base instead (docker.io/library/node:24-bookworm-slim or
#                  docker.io/library/debian:bookworm-slim), where a registry is reachable
#   --tag NAME     the image's name (default localhost/opsledger:VERSION and :latest)
# Environment: CONTAINER_ENGINE (podman or docker; default podman), OPSLEDGER_ROOTFS_CACHE (where
# root file systems are kept, by recipe hash; default /var/tmp/opsledger-image, kept across clones).
set -euo pipefail
cd "$(dirname "$0")/../.."

engine="${CONTAINER_ENGINE:-podman}"
base=""
tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "image: unknown option $1 (use --base IMAGE, --tag NAME)" >&2; exit 2 ;;
  esac
done

version="$(node -p 'require("./package.json").version')"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
source_url="$(node -p 'const r = require("./package.json").repository; (typeof r === "string" ? r : r?.url) ?? ""')"
[ -n "$source_url" ] || source_url="$(git config --get remote.origin.url 2>/dev/null || true)"
[ -n "$source_url" ] || source_url="https://opsledger.invalid/source"
tag="${tag:-localhost/opsledger:${version}}"
cache="$(pwd)/node_modules/.cache/opsledger-image"
rootfs_cache="${OPSLEDGER_ROOTFS_CACHE:-/var/tmp/opsledger-image}"
mkdir -p "$cache" "$rootfs_cache"

# podman on hosts with a hybrid cgroup layout needs runc; docker picks its own runtime.
runtime=()
if [ "$engine" = podman ] && command -v runc >/dev/null; then runtime=(--runtime runc); fi

if [ -z "$base" ]; then
  recipe_hash="$(cat deploy/image/rootfs.sh | sha256sum | cut -c1-16)"
  base="localhost/opsledger-base:${recipe_hash}"
  if ! "$engine" image exists "$base" 2>/dev/null && ! "$engine" image inspect "$base" >/dev/null 2>&1; then
    rootfs="${rootfs_cache}/rootfs-${recipe_hash}.tar"
    if [ ! -f "$rootfs" ]; then
      echo "image: building the Debian root file system (once per recipe) -> ${rootfs}"
      deploy/image/rootfs.sh "${rootfs%.tar}.tmp.tar" >"${cache}/rootfs.log" 2>&1 || { cat "${cache}/rootfs.log" >&2; exit 1; }
      mv "${rootfs%.tar}.tmp.tar" "$rootfs"
    fi
    "$engine" import "$rootfs" "$base" >/dev/null
  fi
fi

echo "image: compiling the server and the UI"
npm run --silent build
[ -f web/dist/index.html ] || npm run --silent build:web

ctx="${cache}/context"
rm -rf "$ctx"
mkdir -p "$ctx/app/web" "$ctx/bin"
cp -r dist bin migrations package.json package-lock.json "$ctx/app/"
rm -f "$ctx/app/migrations/schema.sql"
find "$ctx/app/dist" -name '*.d.ts' -delete
cp -r web/dist "$ctx/app/web/dist"
cp web/package.json "$ctx/app/web/package.json"
cp deploy/image/healthcheck.js "$ctx/app/healthcheck.js"
cp Containerfile "$ctx/Containerfile"

echo "image: production dependencies"
(cd "$ctx/app" && npm ci --omit=dev --ignore-scripts --workspaces=false --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
# What runs nothing: type declarations, source maps, documents.
find "$ctx/app/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.map' \
  -o -iname '*.md' -o -iname '*.markdown' \) -delete
rm -rf "$ctx/app/node_modules/@types" "$ctx/app/web/package.json" "$ctx/app/package-lock.json"

# Node.js 24 from the `node` package (the one npm scripts here run on), without its debug symbols.
node_bin="$(node -p 'require.resolve("node/bin/node")' 2>/dev/null || echo node_modules/node/bin/node)"
[ -x "$node_bin" ] || node_bin="$(command -v node)"
cp "$node_bin" "$ctx/bin/node"
if command -v strip >/dev/null; then strip "$ctx/bin/node"; fi

echo "image: building ${tag} from ${base}"
# The Docker image format: OCI's has no HEALTHCHECK.
format=()
if [ "$engine" = podman ]; then format=(--format docker); fi
"$engine" build "${runtime[@]}" "${format[@]}" --network host \
  --build-arg "BASE=${base}" \
  --build-arg "VERSION=${version}" \
  --build-arg "REVISION=${revision}" \
  --build-arg "SOURCE=${source_url}" \
  -t "$tag" -t "localhost/opsledger:latest" -f "$ctx/Containerfile" "$ctx" >"${cache}/build.log" 2>&1 ||
  { cat "${cache}/build.log" >&2; exit 1; }
size="$("$engine" image inspect "$tag" --format '{{.Size}}')"
echo "image: ${tag} built ($((size / 1000000)) MB)"
