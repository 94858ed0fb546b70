"""The consumer function: each vote CloudEvent logged in MongoDB and counted in Redis, once.

``main.py`` is what functions-framework serves; ``function.py`` is what it runs
per worker (built once, outcomes to HTTP statuses); ``handler.py`` is the logic
that calls; ``serve.py`` is ``certamen consumer``. May import the base (``settings``,
``logs``), ``contract`` and ``adapters``; never another service or ``operations``.
"""

from certamen.consumer.handler import Handler, Outcome

__all__ = ["Handler", "Outcome"]
