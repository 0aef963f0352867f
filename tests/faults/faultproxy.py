#!/usr/bin/env python3
"""A TCP fault proxy for Bursar's fault campaign (test tooling, loopback only).

Sits between the operator and kube-apiserver and forwards bytes unchanged (TLS passes through:
the operator still verifies the API server's certificate, whose SAN is 127.0.0.1). A control
port takes one command per line and answers "ok" or "error: ...":

  pass            forward normally (ends every fault below)
  latency MS      delay every chunk, both ways, by MS milliseconds
  reset           reset (RST) every open connection now; new ones pass
  refuse          reset every open connection and every new one until `pass`
  halfopen        accept and keep connections, forward nothing either way (a silent peer)
  stall           stop forwarding server -> client on the connections open now (a watch stream
                  that goes quiet); connections opened later pass
  slow BPS        forward server -> client at BPS bytes per second, in 64-byte slices
  stats           "connections=N open=N resets=N"

Usage: faultproxy.py --listen 127.0.0.1:0 --target HOST:PORT --control 127.0.0.1:0
                     --address-file FILE
The address file gets "proxy=HOST:PORT" and "control=HOST:PORT" (the ports really bound).
"""
import argparse
import asyncio
import os
import socket
import struct
import sys


class Proxy:
    def __init__(self, target):
        self.host, port = target.rsplit(":", 1)
        self.port = int(port)
        self.mode, self.arg = "pass", 0
        self.conns = {}  # id -> {"client", "server", "stalled", "halfopen"}
        self.total = 0
        self.resets = 0

    # --- one connection ------------------------------------------------------------------------
    async def handle(self, reader, writer):
        self.total += 1
        if self.mode == "refuse":
            self._reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            self._reset(writer)
            return
        conn = {"client": writer, "server": up_writer, "stalled": False,
                "halfopen": self.mode == "halfopen"}
        self.conns[id(conn)] = conn
        try:
            await asyncio.gather(self.pump(reader, up_writer, conn, upstream=True),
                                 self.pump(up_reader, writer, conn, upstream=False))
        finally:
            self.conns.pop(id(conn), None)
            for w in (writer, up_writer):
                try:
                    w.close()
                except Exception:
                    pass

    async def pump(self, reader, writer, conn, upstream):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                # A half-open or stalled connection swallows what arrives and forwards nothing.
                while conn["halfopen"] or (conn["stalled"] and not upstream):
                    await asyncio.sleep(0.05)
                    if writer.is_closing():
                        return
                if self.mode == "latency":
                    await asyncio.sleep(self.arg / 1000.0)
                if self.mode == "slow" and not upstream:
                    for i in range(0, len(data), 64):
                        writer.write(data[i:i + 64])
                        await writer.drain()
                        await asyncio.sleep(64.0 / self.arg)
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except Exception:
                pass

    def _reset(self, writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.resets += 1
        writer.close()

    def _reset_all(self):
        for conn in list(self.conns.values()):
            self._reset(conn["client"])
            self._reset(conn["server"])

    # --- control -------------------------------------------------------------------------------
    def command(self, line):
        words = line.split()
        if not words:
            return "error: empty command"
        cmd, args = words[0], words[1:]
        objs = self.conns
        if cmd == "stats":
            return f"connections={self.total} open={len(self.conns)} resets={self.resets}"
        if cmd in ("latency", "slow"):
            if len(args) != 1 or not args[0].isdigit() or int(args[0]) <= 0:
                return f"error: {cmd} takes one positive integer"
            self.mode, self.arg = cmd, int(args[0])
            return "ok"
        if args:
            return f"error: {cmd} takes no argument"
        if cmd == "pass":
            for conn in objs.values():
                conn["stalled"] = conn["halfopen"] = False
            self.mode = "pass"
        elif cmd == "reset":
            self._reset_all()
            self.mode = "pass"
        elif cmd == "refuse":
            self._reset_all()
            self.mode = "refuse"
        elif cmd == "halfopen":
            for conn in objs.values():
                conn["halfopen"] = True
            self.mode = "halfopen"
        elif cmd == "stall":
            for conn in objs.values():
                conn["stalled"] = True
            self.mode = "pass"
        else:
            return f"error: unknown command {cmd!r}"
        return "ok"

    async def control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write((self.command(line.decode(errors="replace")) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()


def split_addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept on (port 0: any)")
    parser.add_argument("--target", required=True, help="HOST:PORT of the API server")
    parser.add_argument("--control", required=True, help="HOST:PORT of the control port")
    parser.add_argument("--address-file", required=True, help="where to write the bound ports")
    opts = parser.parse_args()
    for name in ("listen", "control"):
        if split_addr(getattr(opts, name))[0] not in ("127.0.0.1", "localhost", "::1"):
            sys.exit(f"faultproxy: --{name} must be a loopback address")
    proxy = Proxy(opts.target)
    server = await asyncio.start_server(proxy.handle, *split_addr(opts.listen))
    control = await asyncio.start_server(proxy.control, *split_addr(opts.control))
    p = server.sockets[0].getsockname()
    c = control.sockets[0].getsockname()
    with open(opts.address_file + ".tmp", "w") as f:
        f.write(f"proxy={p[0]}:{p[1]}\ncontrol={c[0]}:{c[1]}\n")
    os.replace(opts.address_file + ".tmp", opts.address_file)
    async with server, control:
        await asyncio.gather(server.serve_forever(), control.serve_forever())


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
