"""The Docker mode: offline-built images, the compose file rendered from the topology, the driver.

    names.py       project, label, bridge and image names (everything we create is findable)
    engine.py      the docker and compose command-line clients, with one-line errors
    wheelhouse.py  the images' Python dependencies, downloaded on the host with their hashes
    images.py      `build_images()`: base (mmdebstrap), services, redis and postgres images
    offline.py     the offline images, reproducibly: buildah builds, Docker loads, SBOMs, verify
    buildah.py     buildah in a storage of our own (why buildah: its docstring); SOURCE_DATE_EPOCH
    debian_base.py mmdebstrap's Debian minbase tar
    imagefiles.py  an exported image: deterministic config, docker load, layer listings
    reproducible.py  two builds compared: differing layers and files
    sbom.py        Debian and Python packages of an image, from its own files
    listing.py     `list_images()`: ids, sizes, SBOMs (`shopnet images list`)
    inventory.py   what Docker has of an image: id, labels, size
    compose.py     `render(topology)`: the compose file (containers/compose.yaml is its output)
    composefile.py the checked-in compose.yaml: write it, or check it is up to date
    stack.py       what of a stack exists: containers, networks, volumes, by label
    links.py       a tier's veths, found through shopnet.hostnet.links (netem)
    driver.py      `DockerDriver`: the hooks of runtime.base.Driver, one module per phase:
                   settings, preflight, startup, teardown, status, tiers, backup

Nothing here is imported by the services; `import shopnet_docker` is cheap.
"""

from shopnet_docker.images import build_images
from shopnet_docker.listing import list_images

__all__ = ["build_images", "list_images"]
