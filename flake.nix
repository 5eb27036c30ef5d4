# shopnet's flake, a table of contents: `parts` names every derivation and the file
# in nix/ that builds it; the outputs pick from it. Linux only (network namespaces,
# nftables, dockerTools images).
{
  description = "shopnet: one e-commerce stack on Linux namespaces and on Docker, measured side by side";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { nixpkgs, ... }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      # Everything the flake builds for one system.
      parts = pkgs: rec {
        shopnet = pkgs.callPackage ./nix/shopnet.nix { };
        image-service = pkgs.callPackage ./nix/image-service.nix { inherit shopnet; };
        image-redis = pkgs.callPackage ./nix/image-redis.nix { };
        image-postgres = pkgs.callPackage ./nix/image-postgres.nix { };
        images = {
          service = image-service;
          redis = image-redis;
          postgres = image-postgres;
        };
        load-images = pkgs.callPackage ./nix/load-images.nix { inherit images; };
        netns-up = pkgs.callPackage ./nix/netns-launcher.nix { inherit shopnet; };
        netns-down = netns-up.override { verb = "down"; };
        docker-up = pkgs.callPackage ./nix/docker-launcher.nix { inherit load-images shopnet; };
        docker-down = docker-up.override { verb = "down"; };
        bench = pkgs.callPackage ./nix/bench.nix { inherit load-images shopnet; };
        shell = pkgs.callPackage ./nix/shell.nix { inherit shopnet; };
        service-tests = pkgs.callPackage ./nix/service-tests.nix { inherit shopnet; };
        lint = pkgs.callPackage ./nix/lint.nix { };
        vm-test = pkgs.callPackage ./nix/vm-test.nix {
          inherit
            images
            shopnet
            netns-up
            netns-down
            docker-up
            docker-down
            ;
        };
        formatter = pkgs.nixfmt-tree;
      };

      pkgsFor = system: nixpkgs.legacyPackages.${system};
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f (parts (pkgsFor system)));

      # An app is a command with a one-line description (`nix flake show`).
      app = description: drv: {
        type = "app";
        program = nixpkgs.lib.getExe drv;
        meta.description = description;
      };
    in
    {
      packages = forAllSystems (p: {
        shopnet = p.shopnet;
        default = p.shopnet;
        image-service = p.image-service;
        image-redis = p.image-redis;
        image-postgres = p.image-postgres;
        netns-launcher = p.netns-up;
      });

      apps = forAllSystems (p: {
        netns-up = app "Start the stack on Linux network namespaces (as root)" p.netns-up;
        netns-down = app "Stop the netns stack and remove everything of ours" p.netns-down;
        docker-up = app "Load the Nix-built images into dockerd and start the stack" p.docker-up;
        docker-down = app "Stop the docker stack and remove what it made" p.docker-down;
        bench = app "Measure the local, netns and docker modes side by side" p.bench;
      });

      devShells = forAllSystems (p: {
        default = p.shell;
      });

      checks = forAllSystems (p: {
        package = p.shopnet;
        service-tests = p.service-tests;
        lint = p.lint;
        vm = p.vm-test;
      });

      formatter = forAllSystems (p: p.formatter);

      # Every part, the internal ones included (`nix build .#load-images`).
      legacyPackages = forAllSystems (p: p);
    };
}
