# alephd's ASGI launcher, run inside the sandbox as `python3 -c`. It serves the program's app
# with the runtime's uvicorn on the node's unix socket, and turns the node's event requests
# (header `x-aleph-event: message`, which the node strips from outside requests) into Aleph's
# `aleph.message` ASGI scope, whose `body` is the message's JSON.
# argv: module:app, socket path, code directory.
import sys
import traceback

import uvicorn
from uvicorn.importer import import_from_string

TARGET, SOCKET, CODE_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, CODE_DIR)
target = import_from_string(TARGET)
EVENT_HEADER = (b"x-aleph-event", b"message")


async def read_body(receive):
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send, status, text):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def app(scope, receive, send):
    if scope["type"] != "http" or EVENT_HEADER not in scope.get("headers", []):
        await target(scope, receive, send)
        return
    body = await read_body(receive)

    async def nothing_more():
        return {"type": "http.disconnect"}

    async def discard(_message):
        pass

    try:
        await target({"type": "aleph.message", "body": body}, nothing_more, discard)
    except Exception:
        traceback.print_exc()
        await respond(send, 500, traceback.format_exc(limit=5))
        return
    await respond(send, 200, "event delivered")


uvicorn.run(app, uds=SOCKET, access_log=False, lifespan="auto", log_level="info")
