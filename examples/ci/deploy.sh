#!/bin/sh
# Deploys one version of one service with cutover and follows the release to its end; the CI job
# fails unless the release is promoted. Used by github-actions.yml and gitlab-ci.yml beside it.
#   sh examples/ci/deploy.sh <service> <version>
# Needs CUTOVER_API (the daemon's API, e.g. https://deploy.example.com:9900) and CUTOVER_TOKEN (a
# token with the deployer role: `cutover token create --role deployer --name ci`) from the CI's secrets.
# CUTOVER is the command to run (default: the cutover of this repository's node_modules).
set -u
service=${1:?usage: deploy.sh <service> <version>}
version=${2:?usage: deploy.sh <service> <version>}
cutover=${CUTOVER:-npx --no-install cutover}

# --json: one JSON document on stdout, the release as it ended, or {"error":{"code","message"}}.
out=$($cutover deploy "$service" "$version" --wait --json)
code=$?
echo "$out"
summary=$(printf '%s' "$out" | node -e '
  let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => {
    try {
      const j = JSON.parse(t);
      if (j.error) console.log(`${j.error.code}: ${j.error.message}`);
      else console.log(`release ${j.id} of version ${j.version}: ${j.phase}${j.reason ? `: ${j.reason.split("\n")[0]}` : ""}`);
    } catch { console.log(t.trim() || "no answer"); }
  });')
case $code in
  0) echo "cutover: $summary" ;;
  1) echo "cutover: the release ended badly (users are on the old version): $summary" >&2 ;;
  2) echo "cutover: bad usage or config: $summary" >&2 ;;
  3) echo "cutover: the API refused the deploy: $summary" >&2 ;;
  4) echo "cutover: cannot reach the API at ${CUTOVER_API:-its default}: $summary" >&2 ;;
  *) echo "cutover: exit $code: $summary" >&2 ;;
esac
exit $code
