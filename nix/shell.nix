# `nix develop`: Python with the project's dependencies and test tools, and every
# program the modes, the tests and the bench run. The project itself is not
# installed: the shell puts the checkout's three source roots on PYTHONPATH, and its
# `shopnet` runs `python -m shopnet` from them, so edits take effect at once.
{
  mkShell,
  python3,
  python3Packages,
  writeShellScriptBin,
  docker-client,
  docker-compose,
  iproute2,
  iptables,
  kmod,
  nftables,
  nginx,
  nil,
  nixfmt,
  postgresql,
  procps,
  redis,
  ruff,
  tcpdump,
  wrk,
  shopnet,
}:
let
  testTools = [
    python3Packages.pytest
    python3Packages.pytest-aiohttp
    python3Packages.pytest-asyncio
    python3Packages.pytest-timeout
    python3Packages.pytest-xdist
    python3Packages.kubernetes-validate
    python3Packages.schemathesis
    python3Packages.mypy
    python3Packages.types-pyyaml
  ];
  withBench = shopnet.override { withBench = true; };
  python = python3.withPackages (_: withBench.pythonDependencies ++ testTools);
  checkout = writeShellScriptBin "shopnet" ''
    exec python -m shopnet "$@"
  '';
in
mkShell {
  packages = [
    python
    checkout
    ruff
    redis
    postgresql
    iproute2
    nftables
    iptables
    kmod
    procps
    tcpdump
    docker-client
    docker-compose
    wrk
    nginx
    nixfmt
    nil
  ];
  shellHook = ''
    root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
    export PYTHONPATH="$root/services:$root/netns:$root/containers''${PYTHONPATH:+:$PYTHONPATH}"
  '';
}
