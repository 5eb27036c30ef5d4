# The test suite less what needs root, Docker or a whole stack (the `root`, `docker`
# and `slow` markers), against real Redis and PostgreSQL: the fixtures start both
# inside the build sandbox, as the build user, on loopback. wrk is there because the
# bench tests check the command lines they build with it.
{
  postgresql,
  redis,
  wrk,
  shopnet,
}:
let
  tools = [
    postgresql
    redis
    wrk
  ];
in
shopnet.overridePythonAttrs (old: {
  pname = "shopnet-service-tests";
  nativeCheckInputs = old.nativeCheckInputs ++ tools;
  enabledTestPaths = [ "tests" ];
  # The flake's own checks need nix and the flake's files, which the source leaves out;
  # the NetworkPolicy analysis needs network-config-analyzer, which nixpkgs lacks (its
  # test fails rather than skips without it; `make test` runs it).
  disabledTestPaths = [
    "tests/nix"
    "tests/k8s/test_policies.py"
  ];
  pytestFlags = [
    "-m"
    "not root and not docker and not slow"
  ];
})
