# The PostgreSQL image for compose, built by Nix: containers/postgres/Dockerfile's
# contract, with its entrypoint script (POSTGRES_PASSWORD / POSTGRES_USER / POSTGRES_DB
# make the cluster on first start), data in /var/lib/postgresql/data, user postgres,
# port 5432, fast shutdown on SIGINT, pg_isready as health check. PostgreSQL 15 as in
# that image, so a data volume keeps its on-disk format.
{
  lib,
  coreutils,
  dockerTools,
  fakeNss,
  postgresql_15,
}:
let
  # The official image's postgres user. A volume initialised by the Debian-built
  # image belongs to Debian's postgres uid: remove it (`shopnet down --volumes`)
  # when switching between the two.
  uid = 999;
  user = fakeNss.override {
    extraPasswdLines = [
      "postgres:x:${toString uid}:${toString uid}::/var/lib/postgresql:/bin/sh"
    ];
    extraGroupLines = [ "postgres:x:${toString uid}:" ];
  };
  seconds = n: n * 1000000000;
  name = "shopnet/postgres";
  tag = "${lib.versions.major postgresql_15.version}-nix";
in
dockerTools.streamLayeredImage {
  inherit name tag;
  contents = [
    dockerTools.binSh
    coreutils
    postgresql_15
    user
  ];
  fakeRootCommands = ''
    mkdir -m 1777 tmp
    install -D -m 0555 ${../containers/postgres/entrypoint.sh} bin/docker-entrypoint.sh
    install -d -m 0700 -o ${toString uid} -g ${toString uid} var/lib/postgresql/data
    # nixpkgs' PostgreSQL keeps its socket in /run/postgresql.
    install -d -m 2775 -o ${toString uid} -g ${toString uid} run/postgresql
  '';
  config = {
    Entrypoint = [ "docker-entrypoint.sh" ];
    Cmd = [ "postgres" ];
    User = "postgres";
    Env = [
      "PATH=/bin"
      "PGDATA=/var/lib/postgresql/data"
      "LANG=C.UTF-8"
    ];
    Volumes = {
      "/var/lib/postgresql/data" = { };
    };
    ExposedPorts = {
      "5432/tcp" = { };
    };
    # Fast shutdown: roll back open transactions, checkpoint, exit.
    StopSignal = "SIGINT";
    Healthcheck = {
      Test = [
        "CMD-SHELL"
        "pg_isready -q -h 127.0.0.1 -U \"\${POSTGRES_USER:-postgres}\""
      ];
      Interval = seconds 5;
      Timeout = seconds 3;
      Retries = 3;
    };
    Labels = {
      "org.opencontainers.image.title" = "shopnet postgres";
      "org.opencontainers.image.description" = "nixpkgs postgresql ${postgresql_15.version}, official-image compatible for shopnet's compose file, built with Nix";
      "org.opencontainers.image.version" = postgresql_15.version;
    };
  };
  # What compose's image variables name (load-images.nix exports them).
  passthru.imageReference = "${name}:${tag}";
  meta = {
    description = "PostgreSQL ${postgresql_15.version} image for shopnet's compose file, built with Nix";
    platforms = lib.platforms.linux;
  };
}
