"""Vectors: the VPC, and Qdrant on ECS Fargate with its data on EFS, reachable at a private DNS name (Cloud Map) by the
functions' security group only, with its API key in Secrets Manager.

Qdrant runs as exactly one task. Its storage is a single-writer directory, so two tasks must never share it: a
deployment stops the old task before it starts the new one (max 100 %, min 0 %), which costs a minute of
unavailability per Qdrant change and never a corrupted collection.

Caveat the lead must weigh: Qdrant's installation guide says it needs block-level storage and "won't work with network
file systems such as NFS"; EFS is NFS. It is what Fargate offers for durable storage, and the design asks for Fargate; for
heavy write loads, ECS on EC2 with an EBS volume is the supported shape (see README, Deploy).

An environment with `qdrant_nodes` > 1 (prod) runs that shape instead: a Qdrant cluster in distributed mode, one EC2
instance and EBS volume per node, behind an internal load balancer (stacks/qdrant_cluster.py).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from stacks.config import QDRANT_IMAGE, EnvironmentConfig
from stacks.qdrant_cluster import QdrantCluster
from stacks.functions import log_retention, removal_policy

QDRANT_HTTP_PORT = 6333
QDRANT_GRPC_PORT = 6334
QDRANT_STORAGE = "/qdrant/storage"
QDRANT_SERVICE_NAME = "qdrant"


class VectorsStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        retention = removal_policy(config)

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
        )
        # Gateway endpoints cost nothing and keep table and bucket traffic off the NAT gateway.
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)

        self.functions_security_group = ec2.SecurityGroup(
            self, "FunctionsSecurityGroup", vpc=self.vpc, description="openpeek Lambda functions that call Qdrant"
        )
        qdrant_security_group = ec2.SecurityGroup(
            self,
            "QdrantSecurityGroup",
            vpc=self.vpc,
            description="Qdrant: HTTP and gRPC from the openpeek functions only",
            allow_all_outbound=True,  # pulls its image from Docker Hub through the NAT gateway
        )
        for port, name in ((QDRANT_HTTP_PORT, "HTTP"), (QDRANT_GRPC_PORT, "gRPC")):
            qdrant_security_group.add_ingress_rule(
                self.functions_security_group, ec2.Port.tcp(port), f"Qdrant {name} from the functions"
            )

        self.qdrant_api_key = secretsmanager.Secret(
            self,
            "QdrantApiKey",
            description=f"Qdrant API key ({config.prefix})",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48, include_space=False
            ),
            removal_policy=retention,
        )

        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        namespace = servicediscovery.PrivateDnsNamespace(
            self, "Namespace", name=f"{config.prefix}.internal", vpc=self.vpc, description="openpeek private names"
        )

        if config.qdrant_nodes > 1:
            self.qdrant_cluster = QdrantCluster(
                self, "QdrantCluster", vpc=self.vpc, cluster=cluster, namespace=namespace, nodes=config.qdrant_nodes,
                instance_type=config.qdrant_instance_type, volume_gb=config.qdrant_volume_gb,
                memory_mib=config.qdrant_memory_mib, image=QDRANT_IMAGE, api_key=self.qdrant_api_key,
                node_security_group=qdrant_security_group, clients=self.functions_security_group,
                http_port=QDRANT_HTTP_PORT, grpc_port=QDRANT_GRPC_PORT,
                log_group=logs.LogGroup(self, "QdrantLogs", retention=log_retention(config.log_retention_days),
                                        removal_policy=retention),
                retention=retention)
            self.qdrant_url = self.qdrant_cluster.url
        else:
            self._single_node(config, retention, qdrant_security_group, cluster, namespace)
            self.qdrant_url = f"http://{QDRANT_SERVICE_NAME}.{config.prefix}.internal:{QDRANT_HTTP_PORT}"

        CfnOutput(self, "QdrantUrl", value=self.qdrant_url)
        CfnOutput(self, "QdrantApiKeySecretArn", value=self.qdrant_api_key.secret_arn)

    def _single_node(self, config: EnvironmentConfig, retention: RemovalPolicy,
                     qdrant_security_group: ec2.SecurityGroup, cluster: ecs.Cluster,
                     namespace: servicediscovery.PrivateDnsNamespace) -> None:
        """One Fargate task on EFS (see the module's docstring): the shape for one node."""
        file_system = efs.FileSystem(
            self,
            "QdrantStorage",
            vpc=self.vpc,
            encrypted=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            # Elastic: Qdrant's I/O comes in bursts (index builds, snapshots) that bursting credits would run out on.
            throughput_mode=efs.ThroughputMode.ELASTIC,
            enable_automatic_backups=True,
            removal_policy=retention,
            allow_anonymous_access=False,
        )
        file_system.connections.allow_default_port_from(qdrant_security_group, "NFS from Qdrant")
        # The access point turns every file operation into uid/gid 1000 under /qdrant, whatever user the image runs as.
        access_point = file_system.add_access_point(
            "QdrantAccessPoint",
            path="/qdrant",
            create_acl=efs.Acl(owner_uid="1000", owner_gid="1000", permissions="750"),
            posix_user=efs.PosixUser(uid="1000", gid="1000"),
        )

        task = ecs.FargateTaskDefinition(
            self,
            "QdrantTask",
            cpu=config.qdrant_cpu,
            memory_limit_mib=config.qdrant_memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        task.add_volume(
            name="storage",
            efs_volume_configuration=ecs.EfsVolumeConfiguration(
                file_system_id=file_system.file_system_id,
                transit_encryption="ENABLED",
                authorization_config=ecs.AuthorizationConfig(
                    access_point_id=access_point.access_point_id, iam="ENABLED"
                ),
            ),
        )
        # Mount and write through the access point only (IAM authorisation on the mount, checked by EFS).
        task.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                resources=[file_system.file_system_arn],
                conditions={"StringEquals": {"elasticfilesystem:AccessPointArn": access_point.access_point_arn}},
            )
        )
        container = task.add_container(
            "qdrant",
            image=ecs.ContainerImage.from_registry(QDRANT_IMAGE),
            port_mappings=[
                ecs.PortMapping(container_port=QDRANT_HTTP_PORT, name="http"),
                ecs.PortMapping(container_port=QDRANT_GRPC_PORT, name="grpc"),
            ],
            environment={
                "QDRANT__STORAGE__STORAGE_PATH": f"{QDRANT_STORAGE}/data",
                "QDRANT__STORAGE__SNAPSHOTS_PATH": f"{QDRANT_STORAGE}/snapshots",
                "QDRANT__TELEMETRY_DISABLED": "true",
            },
            secrets={"QDRANT__SERVICE__API_KEY": ecs.Secret.from_secrets_manager(self.qdrant_api_key)},
            logging=ecs.LogDriver.aws_logs(
                stream_prefix="qdrant",
                log_group=logs.LogGroup(
                    self,
                    "QdrantLogs",
                    retention=log_retention(config.log_retention_days),
                    removal_policy=retention,
                ),
            ),
            stop_timeout=Duration.seconds(60),  # lets Qdrant flush its write-ahead log on a deployment
        )
        container.add_mount_points(
            ecs.MountPoint(container_path=QDRANT_STORAGE, source_volume="storage", read_only=False)
        )

        self.qdrant_service = ecs.FargateService(
            self,
            "Qdrant",
            cluster=cluster,
            task_definition=task,
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            security_groups=[qdrant_security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            assign_public_ip=False,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            cloud_map_options=ecs.CloudMapOptions(
                cloud_map_namespace=namespace,
                name=QDRANT_SERVICE_NAME,
                dns_record_type=servicediscovery.DnsRecordType.A,
                dns_ttl=Duration.seconds(10),
            ),
        )
