"""The consumer function: each vote CloudEvent logged in MongoDB and counted in Redis, once.

``main.py`` is what functions-framework serves; ``handler.py`` is the logic it
calls; ``serve.py`` is ``certamen consumer``. May import the base (``settings``,
``logs``), ``contract`` and ``adapters``; never another service or ``operations``.
"""

from certamen.consumer.handler import Handler, Outcome

__all__ = ["Handler", "Outcome"]
