"""`python -m shopnet_docker`: build the images, (re)generate or check containers/compose.yaml.

python -m shopnet_docker build [--online] [--refresh-base] [--verify]
python -m shopnet_docker list [--packages]
python -m shopnet_docker compose [--write | --check] [--topology FILE]
python -m shopnet_docker secrets DIR [--topology FILE]   (as root: files owned by each
    container's user) — what compose.yaml run by hand reads from SHOPNET_SECRETS_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shopnet.errors import ShopnetError
from shopnet.runtime.progress import Progress
from shopnet.topology import load
from shopnet_docker import composefile, secretfiles, settings
from shopnet_docker.composefile import COMPOSE_FILE
from shopnet_docker.images import build_images
from shopnet_docker.listing import list_images, listing_lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shopnet_docker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build every image of the docker mode")
    build.add_argument(
        "--online", action="store_true", help="python:3.11-slim base, pull official datastores"
    )
    build.add_argument("--refresh-base", action="store_true", help="make the Debian base again")
    build.add_argument(
        "--verify", action="store_true", help="build twice apart, compare digests (slow)"
    )
    listing = sub.add_parser("list", help="the images, their ids and SBOMs")
    listing.add_argument("--packages", action="store_true", help="every package of each SBOM")
    compose = sub.add_parser("compose", help=f"print, write or check {COMPOSE_FILE}")
    compose.add_argument("--topology", type=Path, default=None)
    mode = compose.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {COMPOSE_FILE}")
    mode.add_argument("--check", action="store_true", help="exit 1 when it is out of date")
    secrets = sub.add_parser("secrets", help="write the compose file's secrets into a folder")
    secrets.add_argument("dir", type=Path)
    secrets.add_argument("--topology", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            report = build_images(
                Progress(),
                offline=not args.online,
                refresh_base=args.refresh_base,
                verify=args.verify,
            )
            print("\n".join(report.lines()))
            return 0 if report.reproducible else 1
        if args.command == "list":
            print("\n".join(listing_lines(list_images(), packages=args.packages)))
            return 0
        if args.command == "secrets":
            print(secretfiles.write_folder(args.dir, load(args.topology), settings.images()))
            return 0
        output, code = composefile.command(load(args.topology), write=args.write, check=args.check)
        sys.stdout.write(output)
        return code
    except ShopnetError as exc:
        print(f"shopnet_docker: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
