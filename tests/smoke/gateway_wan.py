"""The WAN side of gateway-check.sh: what the LAN host reaches through the
router. HTTP on ADDR:8080, ADDR:8081 and ADDR:5336 (the files of DIR), a UDP echo on
ADDR:9000, and a DNS responder on DNS_ADDR:53 that answers every A question
with 203.0.113.7. Prints "ready" once everything listens.
  usage: gateway_wan.py DIR ADDR DNS_ADDR"""
import functools
import http.server
import socket
import socketserver
import struct
import sys
import threading

directory, addr, dns_addr = sys.argv[1], sys.argv[2], sys.argv[3]
family = socket.AF_INET6 if ":" in addr else socket.AF_INET


class Server(http.server.ThreadingHTTPServer):
    address_family = family


def http_on(port):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    handler.log_message = lambda *a: None
    s = Server((addr, port), handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()


def udp_echo():
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, 9000))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def dns_answer(query):
    # Header, the question copied, one A record pointing at the question name.
    qid, flags = struct.unpack("!HH", query[:4])
    end = 12
    while query[end] != 0:
        end += query[end] + 1
    question = query[12:end + 5]
    header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("203.0.113.7")
    return header + question + answer


def dns():
    s = socket.socket(socket.AF_INET6 if ":" in dns_addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((dns_addr, 53))
    while True:
        query, peer = s.recvfrom(4096)
        s.sendto(dns_answer(query), peer)


http_on(8080)
http_on(8081)
http_on(5336)  # the port tproxy-guide-in listens on, elsewhere
threading.Thread(target=udp_echo, daemon=True).start()
threading.Thread(target=dns, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
