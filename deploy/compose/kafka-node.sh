#!/usr/bin/env bash
# Entry point of a Kafka node of compose.yaml (apache/kafka image, run as its user appuser):
# writes server.properties from the environment and the mounted secrets, formats the log
# directory once with the SCRAM users of every component (KIP-900, as `supportes stack up`
# does for the local broker), then runs the broker. Secured as the local stack: SASL/SCRAM-
# SHA-512 on the client and inter-broker listener, PLAIN on the controller listener,
# StandardAuthorizer, no access without an ACL, `admin` the only super user.
# Environment: KAFKA_NODE_ID, KAFKA_CLUSTER_ID, KAFKA_VOTERS (id@host:port,...), KAFKA_HOST.
set -euo pipefail

secret() { tr -d '\n' <"/run/secrets/$1"; }
data=/var/lib/kafka/data
config="$data/server.properties"
admin_password="$(secret kafka-admin-password)"
jaas_scram="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin_password\";"
jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$admin_password\" user_admin=\"$admin_password\";"

umask 077
cat >"$config.partial" <<PROPERTIES
process.roles=broker,controller
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_VOTERS}
listeners=SASL_PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093
advertised.listeners=SASL_PLAINTEXT://${KAFKA_HOST}:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
log.dirs=${data}/log
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=${jaas_scram}
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=${jaas_plain}
sasl.mechanism.controller.protocol=PLAIN
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
PROPERTIES
mv "$config.partial" "$config"

if [ ! -f "$data/log/meta.properties" ]; then
  scram=()
  for component in admin writer projector api auditor; do
    user="supportes-$component"
    [ "$component" = admin ] && user=admin
    scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(secret "kafka-$component-password")]")
  done
  # Its output lists the SCRAM verifiers: kept out of the container's log.
  /opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$KAFKA_CLUSTER_ID" -c "$config" \
    "${scram[@]}" >/dev/null
  echo "formatted $data/log with the SCRAM users of every component"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$config"
