"""The burst LoadTestShape; load it beside the users: ``-f load/locustfile.py,load/burst.py``.

Parameters: ``--burst-idle --burst-ramp --burst-peak --burst-hold --burst-gap --burst-count``.
"""

from certamen.operations.loadgen.burst import BurstShape

__all__ = ["BurstShape"]
