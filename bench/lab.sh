# Sourced by the benchmarks: the seed's scenario 2 scaled to N namespaces, as a topology file.
# one_bridge_lab NAME N PREFIX: N namespaces PREFIX-1..N, each with eth0 on bridge br0 (addresses from 10.64/16).
one_bridge_lab() {
  local name=$1 n=$2 prefix=$3 i
  echo "name: $name"
  echo "pools: {lan: 10.64.0.0/16}"
  echo "bridges: [br0]"
  echo "namespaces:"
  for ((i = 1; i <= n; i++)); do echo "  - $prefix-$i"; done
  echo "links:"
  for ((i = 1; i <= n; i++)); do echo "  - endpoints: [\"$prefix-$i:eth0=lan\", \"br0:v$i\"]"; done
}
