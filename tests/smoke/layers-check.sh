#!/usr/bin/env bash
# Arrows point down only (docs/architecture.md, "Layers"): a file of src/<layer>/
# may include its own layer and the layers below it, never one above. So no
# two layers include each other either.
#
# The pure codecs (anytls_codec: the files src/*/codec_sources.cmake lists)
# take bytes and give values, whatever folder they sit in: anyone may include
# them, and they include nothing but other codecs and net/.
#   usage: layers-check.sh [SRC_DIR]   (default: src/ beside this script's tests/)
set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/../../src" && pwd)}

# Top to bottom: the one place the order is written.
layers=(app inbound dns route outbound anytls tls config metrics http tun net)

declare -A rank
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done

# Codec files, as "anytls/frame" (the .hpp and .cpp of each listed source).
declare -A codec
while read -r path; do
  codec[${path%.cpp}]=1
done < <(grep -ho 'src/[a-z_/]*\.cpp' "$src"/*/codec_sources.cmake | sed 's|^src/||')

bad=0
complain() {
  echo "$1"
  bad=1
}

for dir in "$src"/*/; do
  layer=$(basename "$dir")
  [[ -n ${rank[$layer]+x} ]] || complain "src/$layer/: not in the layer order of $(basename "$0")"
done

while IFS= read -r -d '' file; do
  rel=${file#"$src"/}
  layer=${rel%%/*}
  [[ -n ${rank[$layer]+x} ]] || continue
  stem=${rel%.*}
  while IFS= read -r inc; do
    target=${inc%%/*}
    [[ $inc == */* && -n ${rank[$target]+x} ]] || continue  # system and third-party headers
    if [[ -n ${codec[$stem]+x} ]]; then
      [[ -n ${codec[${inc%.*}]+x} || $target == net ]] ||
        complain "src/$rel: a pure codec includes \"$inc\" (codecs include codecs and net/ only)"
      continue
    fi
    [[ $target == "$layer" || -n ${codec[${inc%.*}]+x} ]] && continue
    if ((rank[$target] < rank[$layer])); then
      complain "src/$rel: $layer/ includes \"$inc\": $target/ is above $layer/ (${layers[*]})"
    fi
  done < <(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*|\1|p' "$file")
done < <(find "$src" -mindepth 2 \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.cc' \) -print0)

if ((bad)); then
  echo "FAIL: a lower layer includes a higher one"
  exit 1
fi
echo "OK: layers ${layers[*]}: arrows point down only"
