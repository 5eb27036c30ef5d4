# `shopnet bench` with everything its three modes and its load generators run: the
# netns tools, the datastores, Docker's client (the Nix-built images are loaded when
# a dockerd answers), wrk and nginx, and matplotlib for the charts.
{
  lib,
  writeShellApplication,
  docker-client,
  iproute2,
  iptables,
  kmod,
  nftables,
  nginx,
  postgresql,
  procps,
  redis,
  tcpdump,
  wrk,
  load-images,
  shopnet,
}:
let
  shopnet-bench = shopnet.override { withBench = true; };
in
writeShellApplication {
  name = "shopnet-bench";
  runtimeInputs = [
    docker-client
    iproute2
    iptables
    kmod
    nftables
    nginx
    postgresql
    procps
    redis
    tcpdump
    wrk
    load-images
    shopnet-bench
  ];
  runtimeEnv = load-images.environment;
  text = ''
    if docker info >/dev/null 2>&1; then
      shopnet-load-images
    fi
    exec shopnet bench "$@"
  '';
  meta = {
    description = "Measure shopnet's local, netns and docker modes side by side";
    mainProgram = "shopnet-bench";
    platforms = lib.platforms.linux;
  };
}
