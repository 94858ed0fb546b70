"""Locust entry point: gRPC and HTTP voters for the local stack or a cluster ingress.

The users live in the installed package (``certamen.operations.loadgen.locustfile``) so that
``certamen demo`` runs the very same code. Examples::

    # replay a file exactly once through both routes, web UI on :8089
    locust -f load/locustfile.py --votes-file load/data/contest-1000.json

    # headless, reports (CSV, HTML, JSON) under load/reports/: see load/headless.conf
    locust --config load/headless.conf
    locust --config load/headless.conf --mode sample -t 60s

    # the burst shape (idle, ramp, hold, drop, second burst)
    locust -f load/locustfile.py,load/burst.py --headless --mode sample --burst-peak 80

    # a cluster behind Kourier: Host header and gRPC authority
    locust -f load/locustfile.py --host http://<ingress-ip> \\
        --wasm-host-header producer-wasm.certamen.example.com \\
        --grpc-target <ingress-ip>:80 --grpc-authority producer-grpc.certamen.example.com

Options: ``locust -f load/locustfile.py --help`` (group "Certamen").
"""

from certamen.operations.loadgen.locustfile import GrpcVoter, WasmVoter

__all__ = ["GrpcVoter", "WasmVoter"]
