"""The Docker mode: offline-built images, the compose file rendered from the topology, the driver.

    names.py       project, label, bridge and image names (everything we create is findable)
    engine.py      the docker and compose command-line clients, with one-line errors
    wheelhouse.py  the images' Python dependencies, downloaded on the host with their hashes
    images.py      `build_images()`: base (mmdebstrap), services, redis and postgres images
    compose.py     `render(topology)`: the compose file (containers/compose.yaml is its output)
    composefile.py the checked-in compose.yaml: write it, or check it is up to date
    stack.py       what of a stack exists: containers, networks, volumes, by label
    links.py       a tier's veths, found through shopnet.hostnet.links (netem)
    driver.py      `DockerDriver`: the hooks of runtime.base.Driver, one module per phase:
                   settings, preflight, startup, teardown, status, tiers, backup

Nothing here is imported by the services; `import shopnet_docker` is cheap.
"""

from shopnet_docker.images import build_images

__all__ = ["build_images"]
