"""Qdrant's two deployed shapes: one Fargate task on EFS where an environment has one node (dev, staging), and a
distributed cluster where it has more (prod: 3): raft on, one EC2 instance and EBS volume per node, peers named in
Cloud Map, an internal load balancer for the functions, nodes updated one at a time."""

from __future__ import annotations

import json
import re

import pytest

from infra_support import ROOT  # noqa: F401  (puts the repository root on sys.path)

SINGLE_NODE = ["dev", "staging"]


def _vectors(synthesised, env) -> dict:
    return synthesised[env].raw["vectors"]["Resources"]


@pytest.mark.parametrize("env", SINGLE_NODE)
def test_one_node_qdrant_runs_on_fargate_from_a_pinned_image_with_its_data_on_efs(synthesised, env) -> None:
    (task,) = synthesised[env].resources("AWS::ECS::TaskDefinition", "vectors").values()
    properties = task["Properties"]
    (container,) = properties["ContainerDefinitions"]

    assert properties["RequiresCompatibilities"] == ["FARGATE"]
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", container["Image"])
    (volume,) = properties["Volumes"]
    assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    assert volume["EFSVolumeConfiguration"]["AuthorizationConfig"]["IAM"] == "ENABLED"
    assert container["MountPoints"] == [
        {"ContainerPath": "/qdrant/storage", "ReadOnly": False, "SourceVolume": volume["Name"]}
    ]
    assert [secret["Name"] for secret in container["Secrets"]] == ["QDRANT__SERVICE__API_KEY"]
    (service,) = synthesised[env].resources("AWS::ECS::Service", "vectors").values()
    # One writer on the storage, ever: the old task stops before the new one starts.
    assert service["Properties"]["DesiredCount"] == 1
    assert service["Properties"]["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert service["Properties"]["ServiceRegistries"]
    (namespace,) = synthesised[env].resources("AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    assert namespace["Properties"]["Name"] == f"openpeek-{env}.internal"


@pytest.mark.parametrize("env", SINGLE_NODE)
def test_one_node_qdrant_admits_only_the_functions_security_group_on_its_two_ports(synthesised, env) -> None:
    vectors = synthesised[env].raw["vectors"]["Resources"]
    functions_group = next(
        key
        for key in vectors
        if key.startswith("FunctionsSecurityGroup") and vectors[key]["Type"] == "AWS::EC2::SecurityGroup"
    )
    qdrant_group = next(
        key
        for key in vectors
        if key.startswith("QdrantSecurityGroup") and vectors[key]["Type"] == "AWS::EC2::SecurityGroup"
    )
    rules = [
        resource["Properties"]
        for resource in vectors.values()
        if resource["Type"] == "AWS::EC2::SecurityGroupIngress"
        and resource["Properties"]["GroupId"] == {"Fn::GetAtt": [qdrant_group, "GroupId"]}
    ]

    assert sorted((r["FromPort"], r["ToPort"]) for r in rules) == [(6333, 6333), (6334, 6334)]
    assert all(r["SourceSecurityGroupId"] == {"Fn::GetAtt": [functions_group, "GroupId"]} for r in rules)
    assert "SecurityGroupIngress" not in vectors[qdrant_group]["Properties"]  # no CIDR-wide rule


def test_the_environments_node_counts():
    from stacks.config import load_config

    assert [load_config(name).qdrant_nodes for name in ("dev", "staging", "prod")] == [1, 1, 3]


def test_prod_runs_a_three_node_raft_cluster_with_stable_peer_names(synthesised):
    vectors = _vectors(synthesised, "prod")
    tasks = [r["Properties"] for r in vectors.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    services = {key: r for key, r in vectors.items() if r["Type"] == "AWS::ECS::Service"}
    names = sorted(r["Properties"]["Name"] for r in vectors.values() if r["Type"] == "AWS::ServiceDiscovery::Service")

    assert len(tasks) == len(services) == 3 and names == ["qdrant-0", "qdrant-1", "qdrant-2"]
    commands = {}
    for task in tasks:
        assert task["RequiresCompatibilities"] == ["EC2"] and task["NetworkMode"] == "awsvpc"
        (container,) = task["ContainerDefinitions"]
        assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", container["Image"])
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert environment["QDRANT__CLUSTER__ENABLED"] == "true"
        assert environment["QDRANT__CLUSTER__P2P__PORT"] == "6335"
        assert [s["Name"] for s in container["Secrets"]] == ["QDRANT__SERVICE__API_KEY"]
        (volume,) = task["Volumes"]
        assert volume["Host"] == {"SourcePath": "/mnt/qdrant"}  # the node's EBS volume, mounted at boot
        assert container["MountPoints"] == [{"ContainerPath": "/qdrant/storage", "ReadOnly": False,
                                             "SourceVolume": volume["Name"]}]
        commands[container["Command"][2]] = container["Command"]
    seed = "http://qdrant-0.openpeek-prod.internal:6335"
    assert commands[seed] == ["./qdrant", "--uri", seed]  # node 0 starts the cluster
    for index in (1, 2):
        uri = f"http://qdrant-{index}.openpeek-prod.internal:6335"
        assert commands[uri] == ["./qdrant", "--uri", uri, "--bootstrap", seed]  # the others join through it


def test_each_node_has_its_own_durable_volume_instance_and_zone(synthesised):
    vectors = _vectors(synthesised, "prod")
    volumes = [r for r in vectors.values() if r["Type"] == "AWS::EC2::Volume"]
    groups = [r["Properties"] for r in vectors.values() if r["Type"] == "AWS::AutoScaling::AutoScalingGroup"]
    templates = [r["Properties"]["LaunchTemplateData"] for r in vectors.values()
                 if r["Type"] == "AWS::EC2::LaunchTemplate"]

    assert len(volumes) == len(groups) == len(templates) == 3
    assert all(v["Properties"]["VolumeType"] == "gp3" and v["Properties"]["Encrypted"] for v in volumes)
    assert {v["DeletionPolicy"] for v in volumes} == {"Retain"}
    # Spread over every Availability Zone the VPC has (synthesised without an account: two, so nodes 0 and 2 share).
    zones = len([r for r in vectors.values() if r["Type"] == "AWS::EC2::Subnet"]) // 2
    assert len({json.dumps(v["Properties"]["AvailabilityZone"]) for v in volumes}) == min(3, zones)
    assert all(g["MinSize"] == g["MaxSize"] == "1" and len(g["VPCZoneIdentifier"]) == 1 for g in groups)
    assert len({json.dumps(g["VPCZoneIdentifier"]) for g in groups}) == min(3, zones)
    for data in templates:
        script = json.dumps(data["UserData"])
        assert "aws ec2 attach-volume" in script and "blkid $DEVICE || mkfs -t xfs $DEVICE" in script
        assert data["MetadataOptions"]["HttpTokens"] == "required"


def test_nodes_update_one_at_a_time_and_one_task_per_node(synthesised):
    vectors = _vectors(synthesised, "prod")
    services = {key: r for key, r in vectors.items() if r["Type"] == "AWS::ECS::Service"}
    order = sorted(services, key=lambda key: int(re.search(r"Node(\d+)", key).group(1)))

    for position, key in enumerate(order):
        properties = services[key]["Properties"]
        assert properties["DesiredCount"] == 1
        assert properties["DeploymentConfiguration"]["MaximumPercent"] == 100
        assert properties["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True,
                                                                                    "Rollback": True}
        assert properties["ServiceRegistries"] and properties["CapacityProviderStrategy"]
        if position:
            assert order[position - 1] in services[key].get("DependsOn", [])


def test_the_functions_reach_the_cluster_through_an_internal_load_balancer(synthesised):
    vectors = _vectors(synthesised, "prod")
    (balancer,) = [r["Properties"] for r in vectors.values()
                   if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"]
    groups = [r["Properties"] for r in vectors.values() if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"]
    ingress = [r["Properties"] for r in vectors.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]

    assert balancer["Type"] == "network" and balancer["Scheme"] == "internal"
    assert sorted(g["Port"] for g in groups) == [6333, 6334]
    assert all(g["TargetType"] == "ip" and g["HealthCheckPath"] == "/readyz" for g in groups)
    assert sorted((r["FromPort"], r["ToPort"]) for r in ingress if r.get("Description", "").startswith(
        "Qdrant peer")) == [(6335, 6335)]  # peer traffic only between the nodes
    assert not any(r.get("CidrIp") for r in ingress)
    outputs = synthesised["prod"].raw["vectors"]["Outputs"]
    url = json.dumps(next(o["Value"] for key, o in outputs.items() if key.startswith("QdrantUrl")))
    assert "DNSName" in url and ":6333" in url
