"""Drives a live alephd with the real `aleph` CLI (aleph-client), unmodified.

Usage: python cli_flow.py API_URL ALEPH_BIN WORKDIR
Runs the commands a user would, checks what the node answers, prints "CLI FLOW OK" at the end.
"""

import json
import os
import subprocess
import sys
import time

API, ALEPH, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
KEY = "11" * 32  # alice, as in sdk_flow.py
ENV = dict(os.environ, ALEPH_API_HOST=API, ALEPH_CONFIG_HOME=os.path.join(WORK, "aleph-config"),
           COLUMNS="200", NO_COLOR="1")


def aleph(*args, editor=None):
    env = dict(ENV)
    if editor:
        env["EDITOR"] = editor
    cmd = [ALEPH, "--no-format", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def last_json(out):
    """The last top-level JSON object the command printed (some print text before it)."""
    starts = [i for i, line in enumerate(out.splitlines()) if line.startswith("{")]
    lines = out.splitlines()
    for start in reversed(starts):
        try:
            return json.loads("\n".join(lines[start:]))
        except json.JSONDecodeError:
            continue
    raise AssertionError(f"no JSON object in output:\n{out}")


def check(cond, what, got=None):
    if not cond:
        raise AssertionError(f"{what}: got {got!r}")
    print(f"ok - {what}", flush=True)


def status_of(item_hash):
    import urllib.request
    with urllib.request.urlopen(f"{API}/api/v0/messages/{item_hash}/status") as r:
        return json.load(r)["status"]


def wait_processed(item_hash):
    # `aleph message get` fails on a pending message: wait on the status route first.
    for _ in range(200):
        try:
            if status_of(item_hash) != "pending":
                break
        except Exception:  # 404 until the node has queued it
            pass
        time.sleep(0.1)
    return aleph("message", "get", item_hash)


def main():
    os.makedirs(ENV["ALEPH_CONFIG_HOME"], exist_ok=True)
    path = os.path.join(WORK, "post.json")
    with open(path, "w") as f:
        json.dump({"body": "hello from the aleph CLI"}, f)

    posted = last_json(aleph("message", "post", "--path", path, "--type", "cli-post",
                             "--channel", "ALEPHD-CLI", "--private-key", KEY))
    item_hash = posted["item_hash"]
    check(posted["content"]["content"] == {"body": "hello from the aleph CLI"}, "message post", posted)

    got = last_json(wait_processed(item_hash))
    check(got["item_hash"] == item_hash and got["content"]["content"]["body"] == "hello from the aleph CLI",
          "message get", got)

    found = last_json(aleph("message", "find", "--hashes", item_hash))
    hashes = [m["item_hash"] for m in found.get("messages", [])]
    check(hashes == [item_hash], "message find --hashes", found)

    # post amend: the CLI opens $EDITOR on the content; our "editor" rewrites the body.
    editor = os.path.join(WORK, "editor.py")
    with open(editor, "w") as f:
        f.write(f"#!{sys.executable}\nimport json,sys\np=sys.argv[1]\nc=json.load(open(p))\n"
                "c['content']={'body':'amended by the CLI'}\nopen(p,'w').write(json.dumps(c))\n")
    os.chmod(editor, 0o755)
    amended = last_json(aleph("message", "amend", item_hash, "--private-key", KEY, editor=editor))
    check(amended["content"]["type"] == "amend" and amended["content"]["ref"] == item_hash,
          "message amend sent an amend", amended["content"])
    wait_processed(amended["item_hash"])
    found = last_json(aleph("message", "find", "--hashes", amended["item_hash"]))
    check(len(found["messages"]) == 1, "amend processed", found)

    # aggregate post, non-inline (content through storage/add_json) and inline, then get.
    aleph("aggregate", "post", "cli-settings", '{"theme":"dark","n":1}', "--channel", "ALEPHD-CLI",
          "--sync", "--private-key", KEY)
    aleph("aggregate", "post", "cli-settings", '{"n":2}', "--inline", "--channel", "ALEPHD-CLI",
          "--sync", "--private-key", KEY)
    value = last_json(aleph("aggregate", "get", "cli-settings", "--private-key", KEY))
    check(value == {"theme": "dark", "n": 2}, "aggregate get (merged)", value)

    # forget: the post is gone.
    aleph("message", "forget", item_hash, "--channel", "ALEPHD-CLI", "--private-key", KEY)
    for _ in range(200):
        found = last_json(aleph("message", "find", "--hashes", item_hash))
        if not found.get("messages"):
            break
        time.sleep(0.1)
    check(found.get("messages") == [], "message forget removes it from find", found)

    # Files: upload with the storage engine and with IPFS, download both, byte-identical.
    import hashlib
    for engine, size in (("storage", 150_000), ("ipfs", 300_000)):
        data = os.urandom(size)
        src = os.path.join(WORK, f"upload-{engine}.bin")
        with open(src, "wb") as f:
            f.write(data)
        uploaded = last_json(aleph("file", "upload", src, "--storage-engine", engine,
                                   "--channel", "ALEPHD-CLI", "--private-key", KEY))
        file_hash = uploaded["content"]["item_hash"]
        if engine == "storage":
            check(file_hash == hashlib.sha256(data).hexdigest(), "file upload (storage) hash", file_hash)
        else:
            check(file_hash.startswith("Qm"), "file upload (ipfs) gives a CID", file_hash)
        got = last_json(wait_processed(uploaded["item_hash"]))
        check(got["item_hash"] == uploaded["item_hash"], f"uploaded {engine} STORE processed", got)
        out_dir = os.path.join(WORK, "downloads")
        aleph("file", "download", file_hash, "--output-path", out_dir, "--file-name", engine,
              "--file-extension", ".bin")
        with open(os.path.join(out_dir, f"{engine}.bin"), "rb") as f:
            check(f.read() == data, f"file download ({engine}) is byte-identical")

    print("CLI FLOW OK")


main()
