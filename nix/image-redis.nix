# The Redis image for compose, built by Nix: containers/redis/Dockerfile's contract
# (redis-server without protected mode or persistence, user redis, port 6379,
# SIGTERM, `redis-cli ping` as health check) on nixpkgs' Redis.
{
  lib,
  dockerTools,
  fakeNss,
  redis,
}:
let
  # The official image's redis user; nothing of it is kept in a volume.
  uid = 999;
  user = fakeNss.override {
    extraPasswdLines = [ "redis:x:${toString uid}:${toString uid}::/data:/sbin/nologin" ];
    extraGroupLines = [ "redis:x:${toString uid}:" ];
  };
  seconds = n: n * 1000000000;
  name = "shopnet/redis";
  tag = "${lib.versions.major redis.version}-nix";
in
dockerTools.streamLayeredImage {
  inherit name tag;
  contents = [
    redis
    user
  ];
  fakeRootCommands = ''
    mkdir -m 1777 tmp
    install -d -m 0750 -o ${toString uid} -g ${toString uid} data
  '';
  config = {
    Cmd = [
      "redis-server"
      "--protected-mode"
      "no"
      "--save"
      ""
      "--appendonly"
      "no"
    ];
    User = "redis";
    WorkingDir = "/data";
    Env = [ "PATH=/bin" ];
    ExposedPorts = {
      "6379/tcp" = { };
    };
    StopSignal = "SIGTERM";
    Healthcheck = {
      Test = [
        "CMD"
        "redis-cli"
        "ping"
      ];
      Interval = seconds 5;
      Timeout = seconds 3;
      Retries = 3;
    };
    Labels = {
      "org.opencontainers.image.title" = "shopnet redis";
      "org.opencontainers.image.description" = "nixpkgs redis ${redis.version} for shopnet's compose file, built with Nix";
      "org.opencontainers.image.version" = redis.version;
    };
  };
  # What compose's image variables name (load-images.nix exports them).
  passthru.imageReference = "${name}:${tag}";
  meta = {
    description = "Redis ${redis.version} image for shopnet's compose file, built with Nix";
    platforms = lib.platforms.linux;
  };
}
