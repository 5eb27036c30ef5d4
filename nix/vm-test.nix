# The whole path on a NixOS VM, as root, nothing mocked: the netns mode up, the gateway
# through the DNAT on localhost:8080, allowed and denied flows between the tiers; then
# the Nix-built images loaded into dockerd, the docker mode up on them without any
# build, the gateway again, and the same flows through compose's networks. The full
# isolation matrix is tests/netns' job; this checks that the flake's pieces run it.
# Needs a builder with KVM (the `kvm` and `nixos-test` system features).
{
  lib,
  curl,
  python3,
  testers,
  shopnet,
  netns-up,
  netns-down,
  docker-up,
  docker-down,
  images,
}:
let
  topology = lib.importTOML ../services/shopnet/topology/default.toml;
in
testers.runNixOSTest {
  name = "shopnet";

  nodes.machine = {
    virtualisation.cores = 2;
    virtualisation.memorySize = 4096;
    virtualisation.diskSize = 8192;
    virtualisation.docker.enable = true;
    environment.systemPackages = [
      curl
      python3
      shopnet
      netns-up
      netns-down
      docker-up
      docker-down
    ];
  };

  testScript = ''
    import ipaddress
    import json

    topology = json.loads(${builtins.toJSON (builtins.toJSON topology)})
    gateway = "http://localhost:${toString topology.published_port}/api/products"

    # (source, target) pairs of services: flows the topology allows, and ones it does not.
    # Compose isolates per network (tier), so in docker mode only pairs that share no
    # network are denied; netns mode filters every pair.
    allowed = [("gateway", "product"), ("product", "postgres"), ("order", "product")]
    denied_netns = [("gateway", "postgres"), ("gateway", "redis"), ("order", "redis"), ("product", "order")]
    denied_docker = [("gateway", "postgres"), ("gateway", "redis")]


    def address(name):
        """The first instance's address in netns mode, from the topology."""
        service = topology["services"][name]
        subnet = ipaddress.ip_network(topology["tiers"][service["tier"]]["subnet"])
        return str(subnet[service["host"]])


    def connect(source, host, target):
        """A TCP connect from where `source`'s first instance runs (namespace or container)."""
        port = topology["services"][target]["port"]
        code = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)"
        return f"shopnet exec {source}-1 -- python3 -c '{code}' {host} {port}"


    start_all()
    machine.wait_for_unit("multi-user.target")

    with subtest("netns mode: up, and the gateway answers through the DNAT"):
        machine.succeed("shopnet-netns-up >&2")
        machine.wait_until_succeeds(f"curl -fsS {gateway}", timeout=120)
        machine.succeed("shopnet status >&2")

    with subtest("netns mode: allowed flows connect, the others do not"):
        for source, target in allowed:
            machine.succeed(connect(source, address(target), target))
        for source, target in denied_netns:
            machine.fail(connect(source, address(target), target))

    with subtest("netns mode: down leaves nothing of ours"):
        machine.succeed("shopnet-netns-down >&2")
        machine.fail("ip netns list | grep -q shopnet")

    with subtest("docker mode: the Nix-built images, loaded and run without a build"):
        machine.wait_for_unit("docker.service")
        machine.succeed("shopnet-docker-up >&2")
        machine.wait_until_succeeds(f"curl -fsS {gateway}", timeout=180)
        machine.succeed("docker image inspect ${images.service.imageReference}")

    with subtest("docker mode: compose's networks carry the allowed flows, not the others"):
        for source, target in allowed:
            machine.succeed(connect(source, target, target))
        for source, target in denied_docker:
            machine.fail(connect(source, target, target))

    with subtest("docker mode: down"):
        machine.succeed("shopnet-docker-down >&2")
  '';
}
