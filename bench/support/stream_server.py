"""A blocking ESL server that streams the load capture's events to each client.

Run as a separate process so the client under test has the other core to itself:
``python -m bench.support.stream_server PORT`` prints READY and serves forever.
Handshake as FreeSWITCH: auth/request, ``+OK accepted``, then the ``event`` command's
reply, then every event frame of the capture as fast as the socket takes them; later
commands are ignored, except ``exit`` (``+OK bye``, then the connection is closed).
"""

from __future__ import annotations

import socket
import sys

from bench.support.fixtures import event_stream, load_capture


def _read_command(conn: socket.socket, buf: bytearray) -> bytes:
    while b"\n\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client went away")
        buf += chunk
    i = buf.index(b"\n\n")
    line = bytes(buf[:i])
    del buf[: i + 2]
    return line


def serve(port: int) -> None:
    payload, count = event_stream(load_capture())
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    print(f"READY {srv.getsockname()[1]} {count}", flush=True)
    while True:
        conn, _ = srv.accept()
        try:
            buf = bytearray()
            conn.sendall(b"Content-Type: auth/request\n\n")
            _read_command(conn, buf)
            conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
            _read_command(conn, buf)
            conn.sendall(b"Content-Type: command/reply\n"
                         b"Reply-Text: +OK event listener enabled plain\n\n")
            conn.sendall(payload)
            while not _read_command(conn, buf).startswith(b"exit"):  # until the client
                pass  # hangs up, or says exit (answered, so that its close() is quick)
            conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK bye\n\n")
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
