# `shopnet up --mode netns` (or another verb) with every tool the netns mode runs on
# its PATH: namespaces and links (iproute2), the firewall (nftables, iptables,
# modprobe for br_netfilter), the datastores, tcpdump for `capture`. Needs root.
{
  lib,
  writeShellApplication,
  iproute2,
  iptables,
  kmod,
  nftables,
  postgresql,
  procps,
  redis,
  tcpdump,
  shopnet,
  verb ? "up",
}:
writeShellApplication {
  name = "shopnet-netns-${verb}";
  runtimeInputs = [
    iproute2
    iptables
    kmod
    nftables
    postgresql
    procps
    redis
    tcpdump
    shopnet
  ];
  text = ''
    exec shopnet ${verb} --mode netns "$@"
  '';
  meta = {
    description = "shopnet ${verb} --mode netns, with the tools the netns mode needs";
    mainProgram = "shopnet-netns-${verb}";
    platforms = lib.platforms.linux;
  };
}
