#!/usr/bin/env bash
# Each user-facing extra works ALONE (CI installs every extra, so a module-level import of another extra's
# package goes unnoticed there): for each extra, a fresh virtualenv gets the project's wheel with only that
# extra and runs its entry point (scripts/extras_smoke.py says what each check runs and why). A smoke, not the
# suite: about 2.5 minutes on 2 cores shared with other work (about 7 with pip and one venv at a time),
# most of it the wheelhouse, torch and the model loading once in the `local` venv.
#
# Cheap by construction: the project's wheel and every extra's dependencies are built/downloaded ONCE into a
# wheelhouse by pip (so the machine's pip configuration applies; CPU torch pinned: an unpinned torch pulls a
# multi-GB CUDA build). Each venv is then made and filled by uv (the dev extra) from that wheelhouse only
# (--no-index): uv unpacks each wheel once into its cache and hardlinks it into every venv, so eleven venvs
# cost about what one costs with pip; two extras run at a time. The project installs from its wheel, not
# editable, so a file missing from the package fails here too.
#
# Usage: bash scripts/extras_smoke.sh [EXTRA...]   (default: every user-facing extra; PYTHON picks the python,
# UV the uv binary). Not user-facing: all (every extra at once: what the suite runs on), docs and dev (the
# project's own tools).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
UV=${UV:-$(command -v uv || true)}
if [ -z "$UV" ]; then
  echo "error: the extras smoke needs uv (pip install -e '.[dev]' installs it, or set UV=/path/to/uv)" >&2
  exit 2
fi
EXTRAS=("$@")
[ ${#EXTRAS[@]} -gt 0 ] || EXTRAS=(local hybrid qdrant pinecone redis openai cohere fastembed fit server extproc cli guards learn)
TORCH=torch==2.13.0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wheels=$work/wheels
export UV_CACHE_DIR=$work/uv-cache UV_NO_PROGRESS=1  # beside the venvs: hardlinks need one filesystem
start=$SECONDS

# the wheel is built from a copy: an in-tree build/ directory keeps modules deleted since, and would ship them
mkdir "$work/src"
cp -r pyproject.toml README.md LICENSE semantic_router "$work/src/"
isolation=(--no-build-isolation)  # the dev extra's setuptools builds it at once; an older one: pip fetches one
"$PYTHON" -c "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 77)" 2>/dev/null || isolation=()
"$PYTHON" -m pip wheel -qq --no-deps "${isolation[@]}" -w "$wheels" "$work/src"
wheel=$(ls "$wheels"/semantic_router_fast-*.whl)
all=$(IFS=,; echo "${EXTRAS[*]}")
"$PYTHON" -m pip wheel -qq -w "$wheels" "$TORCH" "$wheel[$all]"
echo "extras smoke: wheelhouse ready in $((SECONDS - start)) s"

smoke() {  # one extra: a fresh venv, the wheel with that extra only, its check; the venv is removed after
  local extra=$1 venv=$work/venv-$1 t=$SECONDS pins=()
  if [ "$extra" = local ]; then pins=("$TORCH"); fi  # the CPU torch of the wheelhouse, as the README installs it
  if "$UV" venv -q --python "$PYTHON" "$venv" \
      && "$UV" pip install -q --python "$venv/bin/python" --no-index --find-links "$wheels" "${pins[@]}" "$wheel[$extra]" \
      && "$venv/bin/python" scripts/extras_smoke.py "$extra"; then
    echo "extras smoke: $extra passed in $((SECONDS - t)) s"
  else
    echo "extras smoke: $extra FAILED"
    touch "$work/failed-$extra"
  fi
  rm -rf "$venv"
}

# two at a time (the machine's cores); each extra's output is printed whole when it ends
for extra in "${EXTRAS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  { smoke "$extra" > "$work/log-$extra" 2>&1; cat "$work/log-$extra"; } &
done
wait
failed=()
for extra in "${EXTRAS[@]}"; do [ ! -e "$work/failed-$extra" ] || failed+=("$extra"); done
echo "extras smoke: ${#EXTRAS[@]} extras in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: extras that do not work alone: ${failed[*]}" >&2
  exit 1
fi
