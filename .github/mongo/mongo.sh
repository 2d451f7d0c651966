#!/usr/bin/env bash
# The MongoDB deployments the workflow's mongo job tests against (tests/test_mongo_topology.py and
# the store contract suite), started on the runner's own network: every server listens on a
# localhost port of its own, so the host names the replica sets advertise (localhost:PORT) are the
# ones the tests connect to.
#
#   .github/mongo/mongo.sh up standalone|replset|sharded VERSION   # VERSION: a mongo image tag, e.g. 8.0
#   .github/mongo/mongo.sh logs                                     # the servers' last log lines
#
# `up` waits until the deployment serves, then writes its MONGODB_URI to $GITHUB_ENV (and prints it):
#   standalone  one mongod on 27017;
#   replset     replica set rs0 of three members on 27017-27019 (a failover needs an electable
#               secondary, a readPreference=secondary read a secondary);
#   sharded     compose.sharded.yml: a config server replica set on 27100, shards shard1
#               (27101, 27102) and shard2 (27201, 27202), a mongos on 27017.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DATABASE=pointsite_ci
# The longest a server may take to answer once started, and a replica set to elect its primary.
WAIT_S=120
# As compose.sharded.yml runs each mongod: test commands on, a small cache (up to six share the runner).
MONGOD_ARGS=(--bind_ip_all --setParameter enableTestCommands=1 --wiredTigerCacheSizeGB 0.5)

say() { echo "mongo.sh: $*" >&2; }

# Print what mongosh evaluates SCRIPT to on localhost:PORT, run in CONTAINER (whose image has mongosh).
evaluate() {
  local container=$1 port=$2 script=$3
  docker exec "$container" mongosh --quiet --port "$port" --eval "$script"
}

# Wait until SCRIPT evaluates to true on localhost:PORT; fail after WAIT_S, with its last answer.
wait_until() {
  local what=$1 container=$2 port=$3 script=$4 answer=""
  local deadline=$((SECONDS + WAIT_S))
  until answer=$(evaluate "$container" "$port" "$script" 2>&1) && [[ $answer == true ]]; do
    if ((SECONDS >= deadline)); then
      say "no $what after ${WAIT_S} s; the last answer was: $answer"
      return 1
    fi
    sleep 1
  done
  say "$what: ready"
}

wait_for_server() {
  wait_until "server on localhost:$2" "$1" "$2" "db.adminCommand({ping: 1}).ok == 1"
}

# Initiate replica set NAME with members localhost:PORT… (EXTRA: more fields of its config, e.g.
# ", configsvr: true"), from CONTAINER (the first member's), and wait for one primary and the
# other members secondaries.
initiate() {
  local container=$1 name=$2 extra=$3
  shift 3
  local members="" i=0 port
  for port in "$@"; do
    members+="{_id: $i, host: 'localhost:$port'}, "
    i=$((i + 1))
  done
  evaluate "$container" "$1" "rs.initiate({_id: '$name'$extra, members: [$members]}).ok" >&2
  wait_until "replica set $name: one primary, its other members secondaries" "$container" "$1" \
    "const states = rs.status().members.map(m => m.stateStr);
     states.filter(s => s == 'PRIMARY').length == 1 && states.every(s => s == 'PRIMARY' || s == 'SECONDARY')"
}

# Start a mongod in container NAME on the host's network; ARGS are its own options. (Not through
# the image's entrypoint script, which looks up the host name and sets up users: see compose.sharded.yml.)
start_mongod() {
  local name=$1 version=$2
  shift 2
  docker run --detach --name "$name" --network host --entrypoint mongod "mongo:$version" "$@" "${MONGOD_ARGS[@]}" >/dev/null
}

up_standalone() {
  start_mongod pointsite-mongo-27017 "$1" --port 27017
  wait_for_server pointsite-mongo-27017 27017
  URI="mongodb://localhost:27017/$DATABASE"
}

up_replset() {
  local port
  for port in 27017 27018 27019; do
    start_mongod "pointsite-mongo-$port" "$1" --port "$port" --replSet rs0
  done
  for port in 27017 27018 27019; do
    wait_for_server "pointsite-mongo-$port" "$port"
  done
  initiate pointsite-mongo-27017 rs0 "" 27017 27018 27019
  URI="mongodb://localhost:27017,localhost:27018,localhost:27019/$DATABASE?replicaSet=rs0"
}

up_sharded() {
  local compose=(docker compose --file "$HERE/compose.sharded.yml")
  export MONGO_VERSION=$1
  "${compose[@]}" up --detach --quiet-pull config shard1a shard1b shard2a shard2b
  wait_for_server pointsite-mongo-config 27100
  wait_for_server pointsite-mongo-shard1a 27101
  wait_for_server pointsite-mongo-shard1b 27102
  wait_for_server pointsite-mongo-shard2a 27201
  wait_for_server pointsite-mongo-shard2b 27202
  initiate pointsite-mongo-config config ", configsvr: true" 27100
  initiate pointsite-mongo-shard1a shard1 "" 27101 27102
  initiate pointsite-mongo-shard2a shard2 "" 27201 27202
  # The mongos reads the cluster's configuration from the config servers' primary: started now.
  "${compose[@]}" up --detach --quiet-pull mongos
  wait_for_server pointsite-mongo-mongos 27017
  evaluate pointsite-mongo-mongos 27017 "sh.addShard('shard1/localhost:27101,localhost:27102').ok" >&2
  evaluate pointsite-mongo-mongos 27017 "sh.addShard('shard2/localhost:27201,localhost:27202').ok" >&2
  wait_until "cluster of two shards" pointsite-mongo-mongos 27017 "db.adminCommand({listShards: 1}).shards.length == 2"
  URI="mongodb://localhost:27017/$DATABASE"
}

logs() {
  local name
  for name in $(docker ps --all --filter name=pointsite-mongo- --format '{{.Names}}'); do
    echo "::group::$name"
    docker logs --tail 300 "$name" 2>&1
    echo "::endgroup::"
  done
}

case "${1:-}" in
  up)
    if [[ $# -ne 3 || ! $2 =~ ^(standalone|replset|sharded)$ ]]; then
      say "usage: $0 up standalone|replset|sharded VERSION (a mongo image tag, e.g. 8.0)"
      exit 2
    fi
    docker pull --quiet "mongo:$3" >&2
    "up_$2" "$3"
    if [[ -n ${GITHUB_ENV:-} ]]; then
      echo "MONGODB_URI=$URI" >>"$GITHUB_ENV"
    fi
    echo "MONGODB_URI=$URI"
    ;;
  logs)
    logs
    ;;
  *)
    say "usage: $0 up standalone|replset|sharded VERSION | $0 logs"
    exit 2
    ;;
esac
