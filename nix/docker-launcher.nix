# `shopnet up --mode docker` (or another verb) on the Nix-built images: `up` loads them
# into the running dockerd first, and every verb runs with the environment that makes
# the docker mode use them instead of building its own.
{
  lib,
  writeShellApplication,
  docker-client,
  load-images,
  shopnet,
  verb ? "up",
}:
let
  load = lib.optionalString (verb == "up") "shopnet-load-images";
in
writeShellApplication {
  name = "shopnet-docker-${verb}";
  runtimeInputs = [
    docker-client
    load-images
    shopnet
  ];
  runtimeEnv = load-images.environment;
  text = ''
    ${load}
    exec shopnet ${verb} --mode docker "$@"
  '';
  meta = {
    description = "shopnet ${verb} --mode docker, on the images built with Nix";
    mainProgram = "shopnet-docker-${verb}";
    platforms = lib.platforms.linux;
  };
}
