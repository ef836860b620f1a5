#!/usr/bin/env python3
"""Writes a one-layer OCI image archive (the layout `ctr images import` reads) from a directory:
    oci-archive.py ROOTFS ARCHIVE NAME ENTRYPOINT [USER]
e.g. oci-archive.py rootfs/ pause.oci.tar localhost/kto-pause:1 /pause
The node stage's sandbox image is made this way: no registry is reachable to pull one, and the
image is a single static binary, so no image builder is needed for it."""
import hashlib, io, json, os, sys, tarfile

rootfs, archive, name, entrypoint = sys.argv[1:5]
user = sys.argv[5] if len(sys.argv) > 5 else ""
blobs = {}

def blob(data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return digest

def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Reproducible layer: same files, same digest.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info

layer_buf = io.BytesIO()
with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for entry in sorted(os.listdir(rootfs)):
        tar.add(os.path.join(rootfs, entry), arcname=entry, filter=reset)
layer = layer_buf.getvalue()
layer_digest = blob(layer)
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": [entrypoint], "User": user},
    "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
}).encode()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": blob(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest, "size": len(layer)}],
}).encode()
index = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": blob(manifest), "size": len(manifest),
                   # ctr names the imported image after this annotation.
                   "annotations": {"io.containerd.image.name": name,
                                   "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}],
}).encode()

def member(path: str, data: bytes) -> tarfile.TarInfo:
    info = reset(tarfile.TarInfo(path))
    info.size = len(data)
    info.mode = 0o644
    return info

with tarfile.open(archive + ".tmp", "w") as out:
    def add(path: str, data: bytes) -> None:
        out.addfile(member(path, data), io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", index)
    for digest, data in blobs.items():
        add("blobs/sha256/" + digest.split(":", 1)[1], data)
os.replace(archive + ".tmp", archive)
