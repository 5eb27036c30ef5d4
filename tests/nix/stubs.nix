# Stand-ins for nixpkgs, so that tests can evaluate what flake.nix and nix/*.nix
# declare (the outputs, image configs, the launchers' PATH, the package's inputs)
# without nixpkgs, which cannot be fetched here.
#
# `attributes` is the reviewed list of attribute paths the files may use
# (nixpkgs_attributes.py): each becomes a stand-in derivation "/stub/NAME", so a file
# that uses anything else fails to evaluate. Builders return what they were given
# (plus passthru, as real derivations expose it); the few lib functions are small
# re-implementations; callPackage passes only the arguments a file asks for.
{ attributes }:
let
  drv = name: {
    type = "derivation";
    inherit name;
    pname = name;
    version = "1.2.3";
    outPath = "/stub/${name}";
  };
  built =
    args:
    args
    // (args.passthru or { })
    // {
      outPath = "/stub/${args.name or args.pname or "built"}";
    };

  split = path: builtins.filter builtins.isString (builtins.split "\\." path);
  nest =
    parts: value:
    if parts == [ ] then value else { ${builtins.head parts} = nest (builtins.tail parts) value; };
  merge =
    left: right:
    left
    // builtins.mapAttrs (
      name: value:
      if builtins.isAttrs value && !(value ? type) && builtins.isAttrs (left.${name} or null) then
        merge left.${name} value
      else
        value
    ) right;
  # `redis.version` is an attribute of the stand-in for `redis` when that is listed too.
  parent = path: builtins.concatStringsSep "." (lib.init (split path));
  wanted = builtins.filter (
    path:
    builtins.head (split path) != "nixpkgs" && !(builtins.elem (parent path) attributes)
  ) attributes;
  generic = builtins.foldl' (
    set: path:
    let
      parts = split path;
    in
    merge set (nest parts (drv (lib.last parts)))
  ) { } wanted;

  lib = {
    init = list: builtins.genList (builtins.elemAt list) (builtins.length list - 1);
    last = list: builtins.elemAt list (builtins.length list - 1);
    importTOML = path: builtins.fromTOML (builtins.readFile path);
    optionals = cond: list: if cond then list else [ ];
    optionalString = cond: string: if cond then string else "";
    getExe = drv: "/stub/bin/${drv.meta.mainProgram or drv.name}";
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    versions.major = version: builtins.head (builtins.splitVersion version);
    licenses.mit = "mit";
    platforms.linux = [
      "x86_64-linux"
      "aarch64-linux"
    ];
    fileset = {
      toSource = args: drv "source";
      unions = builtins.concatLists;
      difference = included: excluded: included;
      maybeMissing = path: [ path ];
      fileFilter = predicate: root: [ ];
    };
  };

  pythonApplication =
    args:
    built args
    // {
      overridePythonAttrs = change: pythonApplication (args // change args);
    };

  special = {
    inherit lib;
    callPackage =
      file: extra:
      let
        f = import file;
        result = f (builtins.intersectAttrs (builtins.functionArgs f) (pkgs // extra));
      in
      result
      // {
        override = more: pkgs.callPackage file (extra // more);
      };
    python3 = drv "python3" // {
      withPackages = f: drv "python3-env" // { packages = f pkgs.python3Packages; };
    };
    python3Packages = {
      python = drv "python3" // {
        sitePackages = "lib/python3/site-packages";
      };
      buildPythonApplication = pythonApplication;
      makePythonPath = drvs: builtins.concatStringsSep ":" (map (d: "${d}/site") drvs);
    };
    dockerTools.streamLayeredImage = built;
    fakeNss = drv "fakeNss" // {
      override = args: drv "fakeNss" // args;
    };
    writeShellApplication = built;
    writeShellScriptBin = name: text: drv name;
    runCommand = name: env: script: drv name // { inherit env script; };
    mkShell = built;
    testers.runNixOSTest = built;
  };

  pkgs = merge generic special;
in
{
  inherit drv pkgs;
  # The flake input as flake.nix sees it.
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs lib.platforms.linux (system: pkgs);
  };
}
