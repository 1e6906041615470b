"""SimGrid's flow-level model of one shared cell, the reference for tests/validation/test_simgrid_cell.py.

Reads {"rate_Bps": R, "transfers": [[device, queued_s, bytes], ...]} on stdin and prints, as JSON, when each
transfer ends: every device is a host behind one shared link of R bytes/s and no latency (CM02 model, no cross
traffic: max-min fair sharing at the nominal bandwidth); each device's actor sends its transfers one after
another, each no earlier than its queue time. Run with Debian's system python (python3-simgrid).
"""

import json
import sys

import simgrid as sg


def device(index: int, transfers: list) -> None:
    mailbox = sg.Mailbox.by_name(f"m-{index}")
    for k, (at, size) in transfers:
        if sg.Engine.clock < at:
            sg.this_actor.sleep_until(at)
        mailbox.put(k, size)


def sink(index: int, count: int, done: dict) -> None:
    mailbox = sg.Mailbox.by_name(f"m-{index}")
    for _ in range(count):
        key = mailbox.get()  # before reading the clock: it is when the transfer ended
        done[key] = sg.Engine.clock


def main() -> None:
    spec = json.load(sys.stdin)
    transfers = spec["transfers"]
    engine = sg.Engine(
        [sys.argv[0], "--log=root.thres:critical", "--cfg=network/model:CM02", "--cfg=network/crosstraffic:0"]
    )
    zone = sg.NetZone.create_star_zone("cell")
    station = zone.create_host("bs", 1e9).seal()
    zone.add_route(station.netpoint, None, None, None, [], True)
    air = zone.create_link("air", spec["rate_Bps"]).set_latency(0).seal()
    hosts = {}
    for d in sorted({t[0] for t in transfers}):
        hosts[d] = zone.create_host(f"d{d}", 1e9).seal()
        zone.add_route(hosts[d].netpoint, None, None, None, [sg.LinkInRoute(air)], True)
    zone.seal()
    done: dict = {}
    for d, host in hosts.items():
        mine = [(k, (at, int(size))) for k, (dev, at, size) in enumerate(transfers) if dev == d]
        sg.Actor.create(f"dev{d}", host, device, d, mine)
        sg.Actor.create(f"sink{d}", station, sink, d, len(mine), done)
    engine.run()
    print(json.dumps([done[k] for k in range(len(transfers))]))


if __name__ == "__main__":
    main()
