#!/usr/bin/env python3
"""A TCP relay for the fault suite that can freeze the path silently.

Every connection accepted on 127.0.0.1:LISTEN_PORT is forwarded both ways to
127.0.0.1:TARGET_PORT (a half-close is passed on as a half-close, a reset or
a refused connect closes both sides). On SIGUSR1 the connections that exist
at that moment stop forwarding in both directions but keep their sockets open,
as a path that went dead without a FIN or RST would; connections accepted
later are forwarded normally. Each freeze prints "frozen N connections" on
stdout, so a caller can wait for it.
   usage: freeze_relay.py LISTEN_PORT TARGET_PORT"""
import asyncio
import signal
import sys

CHUNK = 64 * 1024


class Link:
    """One relayed connection: two pumps, and the sockets they use."""

    def __init__(self):
        self.pumps = []
        self.writers = []
        self.frozen = False

    def freeze(self):
        # The pumps stop; the writers (and their sockets) are kept open. The
        # reads stop too, so the kernel buffers fill and the peers see a
        # window that never opens again: silence, not an error.
        self.frozen = True
        for p in self.pumps:
            p.cancel()

    def close(self):
        for w in self.writers:
            w.close()


links = set()
frozen = []  # frozen links stay referenced until the relay exits


async def pump(reader, writer, link):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                # A FIN from one side is a FIN to the other.
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        link.close()


async def handle(client_reader, client_writer, target_port):
    link = Link()
    link.writers.append(client_writer)
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    link.writers.append(server_writer)
    up = asyncio.ensure_future(pump(client_reader, server_writer, link))
    down = asyncio.ensure_future(pump(server_reader, client_writer, link))
    link.pumps = [up, down]
    links.add(link)
    try:
        await asyncio.gather(up, down)
    except asyncio.CancelledError:
        pass
    if link.frozen:
        return
    links.discard(link)
    link.close()


def freeze_all():
    n = 0
    for link in list(links):
        link.freeze()
        frozen.append(link)
        n += 1
    links.clear()
    print(f"frozen {n} connections", flush=True)


async def main():
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, freeze_all)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    server = await asyncio.start_server(lambda r, w: handle(r, w, target_port), "127.0.0.1", listen_port,
                                        reuse_address=True)
    print(f"relay 127.0.0.1:{listen_port} -> 127.0.0.1:{target_port}", flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
