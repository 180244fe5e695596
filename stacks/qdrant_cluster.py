"""Qdrant as a distributed cluster (raft consensus, shards, replicas): the shape for an environment whose
`qdrant_nodes` is more than one (prod).

Why ECS on EC2 with one EBS volume per node, not Fargate: Qdrant needs block storage ("won't work with network file
systems such as NFS"), and Fargate's only durable storage is EFS (NFS); Fargate's EBS volumes are created per task and
do not follow a replaced task. Here every node is
- an Auto Scaling group of exactly one instance in one subnet (so one Availability Zone), whose boot attaches the node's
  own EBS gp3 volume (encrypted, kept on stack deletion in prod) and mounts it at DATA_MOUNT: a replaced instance
  comes back with the node's data and raft state, and the node rejoins under the same identity;
- an ECS service of one task on that instance (its own capacity provider), named `qdrant-<i>` in Cloud Map: the stable
  name is the node's raft URI (`--uri http://qdrant-<i>.<namespace>:6335`), and every node but the first bootstraps
  from node 0 (`--bootstrap`), so peers find each other through Cloud Map whatever their addresses;
- a target of an internal Network Load Balancer, through which the functions reach the cluster (any node answers any
  request and forwards to the shards' owners), so the loss of one node is not the loss of the endpoint.

Rolling updates one node at a time: each node's service depends on the previous one, so CloudFormation updates them in
order and waits for each to be stable (its deployment circuit breaker rolls a failing node back) before the next.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

QDRANT_P2P_PORT = 6335
DATA_MOUNT = "/mnt/qdrant"
CONTAINER_STORAGE = "/qdrant/storage"


def node_name(index: int) -> str:
    return f"qdrant-{index}"


def attach_volume_script(volume_id: str, region: str) -> list[str]:
    """User data: attach this node's volume, format it the first time only, mount it where the task's volume is."""
    return [
        "set -euo pipefail",
        "TOKEN=$(curl -sX PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')",
        "INSTANCE=$(curl -sH \"X-aws-ec2-metadata-token: $TOKEN\" http://169.254.169.254/latest/meta-data/instance-id)",
        # The previous instance may still hold the volume while it terminates: retry until it is free.
        (f"until aws ec2 attach-volume --region {region} --volume-id {volume_id} --instance-id $INSTANCE "
         "--device /dev/xvdf; do sleep 10; done"),
        f"DEVICE=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$(echo {volume_id} | tr -d -)",
        "until [ -e $DEVICE ]; do sleep 2; done",
        "blkid $DEVICE || mkfs -t xfs $DEVICE",  # never reformat a volume that holds a file system
        f"mkdir -p {DATA_MOUNT} && mount $DEVICE {DATA_MOUNT} && chown 1000:1000 {DATA_MOUNT}",
    ]


class QdrantCluster(Construct):
    def __init__(self, scope: Construct, id: str, *, vpc: ec2.IVpc, cluster: ecs.Cluster,
                 namespace: servicediscovery.PrivateDnsNamespace, nodes: int, instance_type: str, volume_gb: int,
                 memory_mib: int, image: str, api_key: secretsmanager.ISecret,
                 node_security_group: ec2.SecurityGroup, clients: ec2.ISecurityGroup, http_port: int, grpc_port: int,
                 log_group: logs.ILogGroup, retention: RemovalPolicy) -> None:
        super().__init__(scope, id)
        node_security_group.add_ingress_rule(node_security_group, ec2.Port.tcp(QDRANT_P2P_PORT),
                                             "Qdrant peer-to-peer (raft and shard transfers) between nodes")
        endpoint_group = ec2.SecurityGroup(self, "EndpointSecurityGroup", vpc=vpc, allow_all_outbound=True,
                                           description="Qdrant load balancer: HTTP and gRPC from the functions")
        for port, name in ((http_port, "HTTP"), (grpc_port, "gRPC")):
            endpoint_group.add_ingress_rule(clients, ec2.Port.tcp(port), f"Qdrant {name} from the functions")
            node_security_group.add_ingress_rule(endpoint_group, ec2.Port.tcp(port), f"Qdrant {name} from its NLB")
        self.load_balancer = elbv2.NetworkLoadBalancer(
            self, "Endpoint", vpc=vpc, internet_facing=False, security_groups=[endpoint_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            cross_zone_enabled=True)
        listeners = {port: self.load_balancer.add_listener(f"Listener{port}", port=port)
                     for port in (http_port, grpc_port)}

        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnets
        bootstrap = f"http://{node_name(0)}.{namespace.namespace_name}:{QDRANT_P2P_PORT}"
        self.volumes: list[ec2.Volume] = []
        self.services: list[ecs.Ec2Service] = []
        for index in range(nodes):
            subnet = subnets[index % len(subnets)]  # spread over the Availability Zones, node by node
            volume = ec2.Volume(self, f"Node{index}Data", availability_zone=subnet.availability_zone,
                                size=Size.gibibytes(volume_gb), volume_type=ec2.EbsDeviceVolumeType.GP3,
                                encrypted=True, removal_policy=retention)
            role = iam.Role(self, f"Node{index}InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                            description=f"Qdrant node {index}: joins the ECS cluster, attaches its data volume")
            volume.grant_attach_volume(role)
            user_data = ec2.UserData.for_linux()
            user_data.add_commands(*attach_volume_script(volume.volume_id, Stack.of(self).region))
            template = ec2.LaunchTemplate(
                self, f"Node{index}LaunchTemplate", instance_type=ec2.InstanceType(instance_type),
                machine_image=ecs.EcsOptimizedImage.amazon_linux2023(), role=role, user_data=user_data,
                security_group=node_security_group, require_imdsv2=True)
            hosts = autoscaling.AutoScalingGroup(
                self, f"Node{index}Host", vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
                launch_template=template, min_capacity=1, max_capacity=1)
            capacity = ecs.AsgCapacityProvider(self, f"Node{index}Capacity", auto_scaling_group=hosts,
                                               enable_managed_scaling=False,
                                               enable_managed_termination_protection=False,
                                               # ECS drains the node's task before its instance goes (no drain-hook
                                               # Lambda of CDK's own)
                                               enable_managed_draining=True)
            cluster.add_asg_capacity_provider(capacity)

            task = ecs.Ec2TaskDefinition(self, f"Node{index}Task", network_mode=ecs.NetworkMode.AWS_VPC)
            task.add_volume(name="storage", host=ecs.Host(source_path=DATA_MOUNT))
            uri = f"http://{node_name(index)}.{namespace.namespace_name}:{QDRANT_P2P_PORT}"
            command = ["./qdrant", "--uri", uri] + ([] if index == 0 else ["--bootstrap", bootstrap])
            container = task.add_container(
                "qdrant", image=ecs.ContainerImage.from_registry(image), memory_reservation_mib=memory_mib,
                command=command,
                port_mappings=[ecs.PortMapping(container_port=port, name=name) for port, name in
                               ((http_port, "http"), (grpc_port, "grpc"), (QDRANT_P2P_PORT, "p2p"))],
                environment={
                    "QDRANT__CLUSTER__ENABLED": "true",
                    "QDRANT__CLUSTER__P2P__PORT": str(QDRANT_P2P_PORT),
                    "QDRANT__STORAGE__STORAGE_PATH": f"{CONTAINER_STORAGE}/data",
                    "QDRANT__STORAGE__SNAPSHOTS_PATH": f"{CONTAINER_STORAGE}/snapshots",
                    "QDRANT__TELEMETRY_DISABLED": "true",
                },
                secrets={"QDRANT__SERVICE__API_KEY": ecs.Secret.from_secrets_manager(api_key)},
                logging=ecs.LogDriver.aws_logs(stream_prefix=node_name(index), log_group=log_group),
                stop_timeout=Duration.seconds(120),  # lets the node flush its WAL and hand over raft leadership
            )
            container.add_mount_points(ecs.MountPoint(container_path=CONTAINER_STORAGE, source_volume="storage",
                                                      read_only=False))
            service = ecs.Ec2Service(
                self, f"Node{index}", cluster=cluster, task_definition=task, desired_count=1,
                # One task per node's volume: the old task stops before the new one starts on the same host.
                min_healthy_percent=0, max_healthy_percent=100,
                circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
                capacity_provider_strategies=[ecs.CapacityProviderStrategy(
                    capacity_provider=capacity.capacity_provider_name, weight=1)],
                security_groups=[node_security_group], vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
                cloud_map_options=ecs.CloudMapOptions(cloud_map_namespace=namespace, name=node_name(index),
                                                      dns_record_type=servicediscovery.DnsRecordType.A,
                                                      dns_ttl=Duration.seconds(10)),
            )
            if self.services:  # one node at a time, in order: node i waits for node i-1 (and node 0 bootstraps)
                service.node.add_dependency(self.services[-1])
            self.volumes.append(volume)
            self.services.append(service)
        for port, listener in listeners.items():  # one target group per port holding every node
            listener.add_targets(
                f"NodesPort{port}", port=port,
                targets=[service.load_balancer_target(container_name="qdrant", container_port=port)
                         for service in self.services],
                health_check=elbv2.HealthCheck(protocol=elbv2.Protocol.HTTP, path="/readyz", port=str(http_port),
                                               interval=Duration.seconds(10)),
                deregistration_delay=Duration.seconds(30))
        self.url = f"http://{self.load_balancer.load_balancer_dns_name}:{http_port}"
