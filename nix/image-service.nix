# shopnet/service:VERSION built by Nix: the image containers/Dockerfile builds, with the
# same contract for compose: `python3 -m shopnet` as entrypoint (`serve registry` by
# default), user 10001, ports 3000-3002 and 8500, SIGTERM, containers/healthcheck.py.
{
  lib,
  coreutils,
  dockerTools,
  fakeNss,
  python3Packages,
  runCommand,
  shopnet,
}:
let
  uid = 10001;
  user = fakeNss.override {
    extraPasswdLines = [
      "shopnet:x:${toString uid}:${toString uid}::/nonexistent:/sbin/nologin"
    ];
    extraGroupLines = [ "shopnet:x:${toString uid}:" ];
  };
  healthcheck = runCommand "shopnet-healthcheck" { } ''
    install -D -m 0444 ${../containers/healthcheck.py} $out/opt/shopnet/healthcheck.py
  '';
  # Docker counts health check durations in nanoseconds.
  seconds = n: n * 1000000000;
  name = "shopnet/service";
  tag = shopnet.version;
in
dockerTools.streamLayeredImage {
  inherit name tag;
  contents = [
    dockerTools.binSh
    coreutils
    python3Packages.python
    shopnet
    healthcheck
    user
  ];
  extraCommands = ''
    mkdir -m 1777 tmp
  '';
  config = {
    Entrypoint = [
      "python3"
      "-m"
      "shopnet"
    ];
    Cmd = [
      "serve"
      "registry"
    ];
    User = "${toString uid}:${toString uid}";
    WorkingDir = "/opt/shopnet";
    Env = [
      "PATH=/bin"
      # The bare interpreter finds the package and its dependencies here, as the
      # Dockerfile's venv does through its .pth file.
      "PYTHONPATH=${shopnet}/${python3Packages.python.sitePackages}:${shopnet.dependencyPythonPath}"
      "PYTHONUNBUFFERED=1"
      "PYTHONDONTWRITEBYTECODE=1"
      "LANG=C.UTF-8"
    ];
    ExposedPorts = {
      "3000/tcp" = { };
      "3001/tcp" = { };
      "3002/tcp" = { };
      "8500/tcp" = { };
    };
    # The services deregister from the registry, then drain in-flight requests.
    StopSignal = "SIGTERM";
    Healthcheck = {
      Test = [
        "CMD"
        "python3"
        "-I"
        "-S"
        "/opt/shopnet/healthcheck.py"
      ];
      Interval = seconds 5;
      Timeout = seconds 3;
      StartPeriod = seconds 60;
      Retries = 3;
    };
    Labels = {
      "org.opencontainers.image.title" = "shopnet services";
      "org.opencontainers.image.description" = "registry, product, order and gateway of the shopnet testbed, built with Nix: shopnet serve <service>";
      "org.opencontainers.image.version" = shopnet.version;
      "org.opencontainers.image.licenses" = "MIT";
    };
  };
  # What compose's image variables name (load-images.nix exports them).
  passthru.imageReference = "${name}:${tag}";
  meta = {
    description = "The shopnet services image (${shopnet.version}), built with Nix";
    platforms = lib.platforms.linux;
  };
}
