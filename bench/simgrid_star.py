"""Benchmark SimGrid (S4U Python API) on edgesplit's star edge-offloading scenario.

Scenario: N devices (1 GFLOP/s each), each tied to one edge server (100 GFLOP/s,
one core) by a private 10 MB/s, 10 ms link. Each device runs ``iterations`` times,
in sequence: compute 1e7 flops, send 100 kB to the edge, the edge computes 1e8
flops for it, then replies with 100 B that the device waits for.

Two SimGrid models of it (``--model``):

* ``lean`` (the default, the fairest to SimGrid): N device actors and *one* edge server actor, the permanent
  receiver of the edge's mailbox (``Mailbox.set_receiver``: uploads flow as soon as they are sent, whether or not
  the server is busy), which serves requests one at a time in arrival order (a FIFO core, like edgesplit's) and
  sends each reply as a detached communication (it does not wait for the device to take it).
* ``actors`` (the earlier one, kept for comparison): one worker actor per device on the edge host, each blocking on
  its device's mailbox; ``--fifo-edge`` wraps each edge execution in a simulated mutex (a FIFO core).

Both end at the same simulated time as edgesplit (4.101 s for one device, 100.04001 s for 1,000).

Modelling choices common to both:

* Platform is built programmatically as a SimGrid *star zone*: every device's
  route to the centre is its own link; the edge host has an empty route, so a
  device<->edge route is exactly that device's single (shared, half-duplex) link.
* With ``actors`` and without ``--fifo-edge``, SimGrid shares the edge CPU fluidly (processor sharing): k
  concurrent executions each progress at 1e11/k flops/s.
* Network model defaults to CM02 without cross-traffic, so latency and bandwidth
  are the nominal figures; ``--network-model LV08`` uses SimGrid's default TCP
  calibration (latency x13.01, bandwidth x0.97, 5% reverse ack traffic).

SimGrid's actors are OS threads: pin it to one core (``taskset -c 1``), which also makes it faster.
Run with Debian's system python (python3-simgrid 3.32), not the project venv:
    taskset -c 1 /usr/bin/python3 bench/simgrid_star.py --devices 100 [--model lean|actors] [--json]
"""

import argparse
import json
import resource
import sys
import time

import simgrid as sg

LINK_BW = 10e6  # bytes/s
LINK_LAT = 10e-3  # s
EDGE_SPEED = 1e11  # flops/s
DEVICE_SPEED = 1e9  # flops/s
LOCAL_FLOPS = 1e7
EDGE_FLOPS = 1e8
REQUEST_BYTES = 100_000
REPLY_BYTES = 100


def lean_device(index: int, iterations: int) -> None:
    """Compute locally, send the request to the edge's one mailbox, wait for the reply on its own; repeat."""
    request = sg.Mailbox.by_name("edge")
    reply = sg.Mailbox.by_name(f"reply-{index}")
    for it in range(iterations):
        sg.this_actor.execute(LOCAL_FLOPS)
        request.put((index, it), REQUEST_BYTES)
        reply.get()


def lean_server(requests: int) -> None:
    """The edge's FIFO core: take requests in arrival order, compute each, reply without waiting."""
    mailbox = sg.Mailbox.by_name("edge")
    mailbox.set_receiver(sg.Actor.self())
    for _ in range(requests):
        index, it = mailbox.get()
        sg.this_actor.execute(EDGE_FLOPS)
        sg.Mailbox.by_name(f"reply-{index}").put_async(it, REPLY_BYTES).detach()


def device(index: int, iterations: int) -> None:
    """Compute locally, offload to the edge, wait for the reply; repeat."""
    request = sg.Mailbox.by_name(f"edge-{index}")
    reply = sg.Mailbox.by_name(f"reply-{index}")
    for it in range(iterations):
        sg.this_actor.execute(LOCAL_FLOPS)
        request.put(it, REQUEST_BYTES)
        reply.get()


def edge_worker(index: int, iterations: int, lock: sg.Mutex | None) -> None:
    """Serve one device: receive its request, compute it, send the result back."""
    request = sg.Mailbox.by_name(f"edge-{index}")
    reply = sg.Mailbox.by_name(f"reply-{index}")
    for _ in range(iterations):
        it = request.get()
        if lock is None:
            sg.this_actor.execute(EDGE_FLOPS)
        else:
            with lock:
                sg.this_actor.execute(EDGE_FLOPS)
        reply.put(it, REPLY_BYTES)


def hand_end_time(iterations: int) -> float:
    """Simulated end time for a lone device (N=1) under nominal figures."""
    per_iteration = (
        LOCAL_FLOPS / DEVICE_SPEED
        + LINK_LAT
        + REQUEST_BYTES / LINK_BW
        + EDGE_FLOPS / EDGE_SPEED
        + LINK_LAT
        + REPLY_BYTES / LINK_BW
    )
    return iterations * per_iteration


def build(devices: int, iterations: int, model: str, fifo: bool, lean: bool = True) -> sg.Engine:
    """Create the engine, the star platform and all actors."""
    engine = sg.Engine(
        [
            sys.argv[0],
            "--log=root.thres:critical",
            f"--cfg=network/model:{model}",
            f"--cfg=network/crosstraffic:{int(model == 'LV08')}",
        ]
    )
    zone = sg.NetZone.create_star_zone("star")
    edge = zone.create_host("edge", EDGE_SPEED).seal()
    zone.add_route(edge.netpoint, None, None, None, [], True)
    hosts = []
    for i in range(devices):
        host = zone.create_host(f"dev-{i}", DEVICE_SPEED).seal()
        link = zone.create_link(f"link-{i}", LINK_BW).set_latency(LINK_LAT).seal()
        zone.add_route(host.netpoint, None, None, None, [sg.LinkInRoute(link)], True)
        hosts.append(host)
    zone.seal()
    if lean:
        sg.Actor.create("server", edge, lean_server, devices * iterations)
        for i, host in enumerate(hosts):
            sg.Actor.create(f"device-{i}", host, lean_device, i, iterations)
        return engine
    lock = sg.Mutex() if fifo else None
    for i, host in enumerate(hosts):
        sg.Actor.create(f"worker-{i}", edge, edge_worker, i, iterations, lock)
        sg.Actor.create(f"device-{i}", host, device, i, iterations)
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--network-model", choices=["CM02", "LV08"], default="CM02")
    parser.add_argument("--model", choices=["lean", "actors"], default="lean", help="SimGrid model (see above)")
    parser.add_argument("--fifo-edge", action="store_true", help="actors model: serve edge work one at a time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    t0 = time.perf_counter()
    engine = build(args.devices, args.iterations, args.network_model, args.fifo_edge, lean=args.model == "lean")
    t1 = time.perf_counter()
    engine.run()
    t2 = time.perf_counter()

    offloads = args.devices * args.iterations
    result = {
        "devices": args.devices,
        "iterations": args.iterations,
        "offloads": offloads,
        "network_model": args.network_model,
        "model": args.model,
        "fifo_edge": args.fifo_edge or args.model == "lean",
        "setup_wall_s": round(t1 - t0, 4),
        "run_wall_s": round(t2 - t1, 4),
        "total_wall_s": round(t2 - t0, 4),
        "offloads_per_run_s": round(offloads / (t2 - t1), 1),
        "offloads_per_total_s": round(offloads / (t2 - t0), 1),
        "sim_end_s": round(engine.clock, 6),
        "hand_end_s_n1": round(hand_end_time(args.iterations), 6),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{offloads} offloads from {args.devices} devices: run {result['run_wall_s']} s "
            f"(+setup {result['setup_wall_s']} s), {result['offloads_per_run_s']} offloads/s, "
            f"sim end {result['sim_end_s']} s (N=1 hand {result['hand_end_s_n1']} s), "
            f"peak RSS {result['peak_rss_mib']} MiB"
        )


if __name__ == "__main__":
    main()
