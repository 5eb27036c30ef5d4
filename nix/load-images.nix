# `shopnet-load-images`: stream the Nix-built images into the running dockerd
# (`docker image load`; nothing is pulled or built). Its `environment` is what tells
# the docker mode to run them as they are: SHOPNET_DOCKER_IMAGES=preloaded (build
# nothing) and the compose file's image variables naming them.
{
  lib,
  writeShellApplication,
  docker-client,
  images,
}:
writeShellApplication {
  name = "shopnet-load-images";
  runtimeInputs = [ docker-client ];
  text = ''
    for image in ${images.service} ${images.redis} ${images.postgres}; do
      "$image" | docker image load
    done
  '';
  passthru.environment = {
    SHOPNET_DOCKER_IMAGES = "preloaded";
    SHOPNET_IMAGE = images.service.imageReference;
    SHOPNET_REDIS_IMAGE = images.redis.imageReference;
    SHOPNET_POSTGRES_IMAGE = images.postgres.imageReference;
  };
  meta = {
    description = "Load shopnet's Nix-built images into dockerd";
    platforms = lib.platforms.linux;
  };
}
