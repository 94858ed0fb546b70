"""The errors of the vote contract: each names the field and the rule it broke."""

from __future__ import annotations


class ContractError(ValueError):
    """Base of every error raised by the vote contract."""


class InvalidVote(ContractError):
    """A ballot or vote broke a rule: ``field`` and ``rule`` are the contract, ``message`` prose."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.rule = rule
        self.message = message

    def as_dict(self) -> dict[str, str]:
        """The error as producers answer it: ``{"field", "rule", "message"}``."""
        return {"field": self.field, "rule": self.rule, "message": self.message}


class CatalogError(ContractError):
    """The catalog file cannot be read or is malformed."""
