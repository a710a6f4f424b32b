#!/usr/bin/env python3
"""A static HTTP server for the smoke tests whose responses are sent at a
limited rate (curl 7.88's --limit-rate does not hold back a local download).
   usage: throttled_http.py PORT DIR BYTES_PER_SECOND"""
import http.server
import sys
import time
from functools import partial

CHUNK = 16 * 1024


class Handler(http.server.SimpleHTTPRequestHandler):
    rate = 1 << 20

    def copyfile(self, source, outputfile):
        start = time.monotonic()
        sent = 0
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            outputfile.write(chunk)
            sent += len(chunk)
            ahead = sent / self.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)

    def log_message(self, *args):
        pass


def main():
    port, root, rate = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    Handler.rate = rate
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=root))
    server.serve_forever()


if __name__ == "__main__":
    main()
